/**
 * Character images on the wire: the characters subgraph stores them and answers them on a plain
 * HTTP route of its own; the gateway serves them to clients under IMAGES_PATH, passing each request
 * on (gateway/src/images.ts). Both sides name the paths and query parameters from here.
 */

/** Where clients fetch a character's image from the gateway: `${IMAGES_PATH}<characterId>`. */
export const IMAGES_PATH = '/images/characters/';

/** The characters subgraph's route that answers an image (its id in CHARACTER_IMAGE_PARAMS.id). */
export const CHARACTER_IMAGE_ROUTE = '/character-image';

/** Query parameters of an image URL: the character, the image version, and a private image's expiry and signature. */
export const CHARACTER_IMAGE_PARAMS = {
  id: 'id',
  version: 'v',
  expires: 'exp',
  signature: 'sig',
} as const;

/** The request headers the gateway passes on to the characters subgraph, and the response headers it passes back. */
export const IMAGE_REQUEST_HEADERS = ['if-none-match'] as const;
export const IMAGE_RESPONSE_HEADERS = ['content-type', 'content-length', 'etag', 'cache-control', 'last-modified', 'x-content-type-options'] as const;
