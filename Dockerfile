# One image for every service of Character Chat; the command chooses which one runs:
#   npx tsx subgraphs/<users|characters|conversations|messages>/main.ts   one subgraph
#   npx tsx gateway/src/main.ts                                           the gateway
#   npx tsx scripts/start-all.ts (the default)                            everything in one process, embedded PGlite
# TypeScript runs as is with tsx (a runtime dependency), exactly as `npm start` runs it.
FROM node:20-bookworm-slim

WORKDIR /app

# Dependencies first, so a source change does not reinstall them. The workspaces' package.json
# files are needed for npm to link @chat/* packages.
COPY package.json package-lock.json ./
COPY packages/shared/package.json packages/shared/
COPY packages/system/package.json packages/system/
COPY gateway/package.json gateway/
COPY subgraphs/users/package.json subgraphs/users/
COPY subgraphs/characters/package.json subgraphs/characters/
COPY subgraphs/conversations/package.json subgraphs/conversations/
COPY subgraphs/messages/package.json subgraphs/messages/
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

COPY . .
# Embedded data (only used without DATABASE_URL) lives here; the image runs as the unprivileged node user.
RUN mkdir -p /app/.data && chown node:node /app/.data
USER node

# In a container, listen on every interface.
ENV HOST=0.0.0.0
EXPOSE 4000 4001 4002 4003 4004
CMD ["npx", "tsx", "scripts/start-all.ts"]
