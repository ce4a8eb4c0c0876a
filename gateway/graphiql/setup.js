/*
 * GraphiQL for Character Chat, in the browser: React 18, GraphiQL 3, graphql-ws and graphql-sse are
 * loaded before this script as globals (React, ReactDOM, GraphiQL, graphqlWs, graphqlSse) from the
 * gateway itself.
 *
 * - Queries and mutations go over HTTP POST to the gateway, with the tab's Headers.
 * - Subscriptions go over graphql-ws on the same URL, or over Server-Sent Events (graphql-sse, at
 *   <endpoint>/stream) when the Sign in panel (or ?transport=sse in the page's URL) picks them.
 *   The gateway authenticates a socket by its connection_init payload
 *   { authorization: "Bearer <accessToken>" }, and an event stream by its Authorization header,
 *   both built here from the Authorization header in the tab's Headers: one client per token and
 *   transport, so a changed token opens a new connection.
 * - The "Sign in" panel signs up or logs in with a form, and sends messages (so a reply can be
 *   watched streaming in ConversationEvents while it runs). Its token is kept in this page only
 *   (never stored) and is used by requests whose Headers carry no Authorization.
 */
(function () {
  'use strict';

  var h = React.createElement;
  var config = JSON.parse(document.getElementById('graphiql-config').textContent);
  var httpUrl = new URL(config.endpoint, window.location.href);
  var wsUrl = new URL(httpUrl.href);
  wsUrl.protocol = httpUrl.protocol === 'https:' ? 'wss:' : 'ws:';
  var streamUrl = new URL(httpUrl.pathname.replace(/\/?$/, '/stream'), httpUrl.href);

  // ---- Which transport subscriptions take: kept in this browser, or asked for in the page's URL. ----

  var TRANSPORTS = { ws: 'WebSocket (graphql-ws)', sse: 'Server-Sent Events (graphql-sse)' };
  var TRANSPORT_KEY = 'chat:subscriptionTransport';
  var transport = (function () {
    var asked = new URL(window.location.href).searchParams.get('transport');
    if (asked && TRANSPORTS.hasOwnProperty(asked)) return asked;
    try {
      var kept = window.localStorage.getItem(TRANSPORT_KEY);
      if (kept && TRANSPORTS.hasOwnProperty(kept)) return kept;
    } catch (_) { /* storage disabled */ }
    return 'ws';
  })();
  function setTransport(next) {
    transport = next;
    try { window.localStorage.setItem(TRANSPORT_KEY, next); } catch (_) { /* storage disabled */ }
  }

  // ---- The Sign in panel's session: memory only, shared by every tab. ----

  var session = null; // { accessToken, refreshToken, expiresAt, user: { id, email, displayName, credits } }
  var sessionListeners = new Set();
  function setSession(next) {
    session = next;
    sessionListeners.forEach(function (listener) { listener(session); });
  }
  function useSession() {
    var state = React.useState(session);
    React.useEffect(function () {
      var listener = function (s) { state[1](s); };
      sessionListeners.add(listener);
      return function () { sessionListeners.delete(listener); };
    }, []);
    return state[0];
  }

  /** POSTs one operation to the gateway; resolves to `data`, rejects with the errors' messages. */
  function graphql(query, variables, authorization) {
    var headers = { 'content-type': 'application/json' };
    if (authorization) headers.authorization = authorization;
    return fetch(httpUrl.href, { method: 'POST', headers: headers, body: JSON.stringify({ query: query, variables: variables }) })
      .then(function (response) { return response.json(); })
      .then(function (body) {
        if (body.errors && body.errors.length) {
          throw new Error(body.errors.map(function (e) { return e.message + (e.extensions && e.extensions.code ? ' (' + e.extensions.code + ')' : ''); }).join('\n'));
        }
        return body.data;
      });
  }

  var AUTH_FIELDS = 'accessToken refreshToken expiresAt user { id email displayName credits }';
  var refreshing = null;
  /** The panel's token, refreshed first when it expires within 30 s (null when not signed in). */
  function sessionAuthorization() {
    if (!session) return Promise.resolve(null);
    if (new Date(session.expiresAt).getTime() - Date.now() > 30000) return Promise.resolve('Bearer ' + session.accessToken);
    if (!refreshing) {
      var current = session;
      refreshing = graphql('mutation RefreshSession($t: String!) { refreshSession(refreshToken: $t) { ' + AUTH_FIELDS + ' } }', { t: current.refreshToken })
        .then(function (data) { if (session === current) setSession(data.refreshSession); })
        .catch(function () { if (session === current) setSession(null); })
        .then(function () { refreshing = null; });
    }
    return refreshing.then(function () { return session ? 'Bearer ' + session.accessToken : null; });
  }

  // ---- The fetcher GraphiQL runs every operation with. ----

  function authorizationHeader(headers) {
    for (var key in headers || {}) {
      if (key.toLowerCase() === 'authorization' && typeof headers[key] === 'string' && headers[key].trim()) return headers[key].trim();
    }
    return null;
  }

  /** graphql-ws's close events, in words a person can act on. */
  function describeError(error) {
    if (error && typeof error.code === 'number' && 'reason' in error) {
      if (error.code === 4403) {
        return new Error('The gateway refused the subscription (4403 Forbidden): it needs a valid access token. ' +
          'Put { "Authorization": "Bearer <accessToken>" } in Headers (Register or Login returns one), or sign in with the Sign in panel.');
      }
      return new Error('The subscription\'s WebSocket closed: ' + error.code + (error.reason ? ' ' + error.reason : ''));
    }
    return error;
  }

  /** graphql-sse's refusals, in words a person can act on. */
  function describeStreamError(error) {
    var status = error && error.response && error.response.status;
    if (status === 401) {
      return new Error('The gateway refused the event stream (401 Unauthorized): it needs a valid access token. ' +
        'Put { "Authorization": "Bearer <accessToken>" } in Headers (Register or Login returns one), or sign in with the Sign in panel.');
    }
    if (status) return new Error('The event stream was refused: ' + status + (error.response.statusText ? ' ' + error.response.statusText : ''));
    return error;
  }

  /** A graphql-sse client to the gateway's stream endpoint, with the token in its Authorization header. */
  function streamClient(authorization) {
    var client = graphqlSse.createClient({
      url: streamUrl.href,
      headers: authorization ? { authorization: authorization } : {},
      retryAttempts: 0,
    });
    return {
      client: client,
      subscriber: {
        subscribe: function (payload, sink) {
          return client.subscribe(payload, {
            next: function (value) { sink.next(value); },
            complete: function () { sink.complete(); },
            error: function (error) { sink.error(describeStreamError(error)); },
          });
        },
      },
    };
  }

  /** One subscription client (graphql-ws or graphql-sse), and GraphiQL's fetcher using it, per transport and Authorization value. */
  var fetchers = new Map();
  function fetcherFor(authorization) {
    var key = transport + ' ' + (authorization || '');
    var entry = fetchers.get(key);
    if (entry) {
      fetchers.delete(key);
      fetchers.set(key, entry); // most recently used last
      return entry.fetcher;
    }
    if (transport === 'sse') {
      var sse = streamClient(authorization);
      entry = { client: sse.client, fetcher: GraphiQL.createFetcher({ url: httpUrl.href, wsClient: sse.subscriber }) };
      return keep(key, entry);
    }
    var client = graphqlWs.createClient({
      url: wsUrl.href,
      connectionParams: authorization ? { authorization: authorization } : {},
      lazy: true,
      retryAttempts: 3,
      // A refusal (4xxx: forbidden, too many subscriptions...) does not change by retrying; a dropped connection may.
      shouldRetry: function (event) { return !(event && typeof event.code === 'number' && event.code >= 4000); },
    });
    var wsClient = {
      subscribe: function (payload, sink) {
        return client.subscribe(payload, {
          next: function (value) { sink.next(value); },
          complete: function () { sink.complete(); },
          error: function (error) { sink.error(describeError(error)); },
        });
      },
    };
    return keep(key, { client: client, fetcher: GraphiQL.createFetcher({ url: httpUrl.href, wsClient: wsClient }) });
  }

  /** Remembers a fetcher; a lazy client holds a connection only while it has subscriptions, so a few are kept. */
  function keep(key, entry) {
    fetchers.set(key, entry);
    while (fetchers.size > 8) {
      var oldest = fetchers.keys().next().value;
      fetchers.get(oldest).client.dispose();
      fetchers.delete(oldest);
    }
    return entry.fetcher;
  }

  function fetcher(params, options) {
    var headers = Object.assign({}, options && options.headers);
    var own = authorizationHeader(headers);
    return (own ? Promise.resolve(own) : sessionAuthorization()).then(function (authorization) {
      if (authorization && !own) headers.Authorization = authorization;
      return fetcherFor(authorization)(params, Object.assign({}, options, { headers: headers }));
    });
  }

  // ---- The Sign in panel. ----

  function field(label, props) {
    return h('label', { className: 'chat-panel-field' }, h('span', null, label), h(props.multiline ? 'textarea' : 'input', props));
  }

  function useInput(initial) {
    var state = React.useState(initial);
    return { value: state[0], onChange: function (event) { state[1](event.target.value); }, set: state[1] };
  }

  /** The conversationId in the current tab's Variables, when it is a real one. */
  function conversationIdFromVariables(editorContext) {
    try {
      var variables = JSON.parse(editorContext.variableEditor ? editorContext.variableEditor.getValue() : '{}');
      var id = variables && variables.conversationId;
      return typeof id === 'string' && id && id.charAt(0) !== '<' ? id : '';
    } catch (_) {
      return '';
    }
  }

  function SignInPanel() {
    var current = useSession();
    var editorContext = GraphiQL.React.useEditorContext({ nonNull: true });
    var email = useInput('');
    var password = useInput('');
    var displayName = useInput('');
    var conversationId = useInput(conversationIdFromVariables(editorContext));
    var content = useInput('');
    var statusState = React.useState(null);
    var status = statusState[0];
    var setStatus = statusState[1];
    var sentState = React.useState(null);

    function authenticate(kind) {
      return function (event) {
        event.preventDefault();
        setStatus({ busy: true, text: kind === 'register' ? 'Signing up…' : 'Logging in…' });
        var query = kind === 'register'
          ? 'mutation Register($input: RegisterInput!) { register(input: $input) { ' + AUTH_FIELDS + ' } }'
          : 'mutation Login($input: LoginInput!) { login(input: $input) { ' + AUTH_FIELDS + ' } }';
        var input = { email: email.value, password: password.value };
        if (kind === 'register') input.displayName = displayName.value || email.value.split('@')[0];
        graphql(query, { input: input })
          .then(function (data) {
            setSession(data[kind]);
            password.set('');
            setStatus(null);
          })
          .catch(function (error) { setStatus({ error: true, text: error.message }); });
      };
    }

    function signOut() {
      var ending = session;
      setSession(null);
      if (ending) graphql('mutation Logout($t: String!) { logout(refreshToken: $t) }', { t: ending.refreshToken }).catch(function () {});
    }

    function copyToHeaders() {
      if (session && editorContext.headerEditor) {
        editorContext.headerEditor.setValue(JSON.stringify({ Authorization: 'Bearer ' + session.accessToken }, null, 2));
      }
    }

    function send(event) {
      event.preventDefault();
      sentState[1]({ text: 'Sending…' });
      var headerText = editorContext.headerEditor ? editorContext.headerEditor.getValue() : '';
      var own = null;
      try { own = authorizationHeader(JSON.parse(headerText || '{}')); } catch (_) { /* invalid Headers: the panel's token */ }
      (own ? Promise.resolve(own) : sessionAuthorization())
        .then(function (authorization) {
          return graphql(
            'mutation SendMessage($input: SendMessageInput!) { sendMessage(input: $input) { message { id } reply { id status } } }',
            { input: { conversationId: conversationId.value.trim(), content: content.value } },
            authorization,
          );
        })
        .then(function (data) {
          content.set('');
          sentState[1]({ text: 'Sent. The reply ' + data.sendMessage.reply.id + ' is ' + data.sendMessage.reply.status + ': it streams to ConversationEvents.' });
        })
        .catch(function (error) { sentState[1]({ error: true, text: error.message }); });
    }

    var signedIn = current
      ? h('div', { className: 'chat-panel-section' },
          h('p', { className: 'chat-panel-signed-in' }, 'Signed in as ', h('strong', null, current.user.displayName), ' (' + current.user.email + ').'),
          h('p', { className: 'chat-panel-note' },
            'Requests from a tab whose Headers carry no Authorization use this token, subscriptions too (it is refreshed when it expires). ' +
            'An Authorization in Headers wins.'),
          h('div', { className: 'chat-panel-buttons' },
            h('button', { type: 'button', className: 'graphiql-button', onClick: copyToHeaders }, 'Put the token in this tab\u2019s Headers'),
            h('button', { type: 'button', className: 'graphiql-button', onClick: signOut }, 'Sign out')))
      : h('form', { className: 'chat-panel-section', onSubmit: authenticate('login') },
          h('p', { className: 'chat-panel-note' }, 'Sign up or log in to get an access token without leaving GraphiQL.'),
          field('Email', Object.assign({ type: 'email', name: 'email', autoComplete: 'username', required: true }, email)),
          field('Password', Object.assign({ type: 'password', name: 'password', autoComplete: 'current-password', required: true }, password)),
          field('Display name (to sign up)', Object.assign({ type: 'text', name: 'displayName' }, displayName)),
          h('div', { className: 'chat-panel-buttons' },
            h('button', { type: 'submit', className: 'graphiql-button', disabled: status && status.busy }, 'Log in'),
            h('button', { type: 'button', className: 'graphiql-button', disabled: status && status.busy, onClick: authenticate('register') }, 'Sign up')),
          status && h('p', { className: status.error ? 'chat-panel-error' : 'chat-panel-note', role: 'status' }, status.text));

    var sender = h('form', { className: 'chat-panel-section', onSubmit: send },
      h('h3', null, 'Send a message'),
      h('p', { className: 'chat-panel-note' }, 'While ConversationEvents runs in a tab, send a message here and watch the reply stream in.'),
      field('Conversation id', Object.assign({ type: 'text', name: 'conversationId', required: true, placeholder: 'from StartConversation' }, conversationId)),
      field('Message', Object.assign({ multiline: true, name: 'content', rows: 3, required: true }, content)),
      h('div', { className: 'chat-panel-buttons' }, h('button', { type: 'submit', className: 'graphiql-button' }, 'Send')),
      sentState[0] && h('p', { className: sentState[0].error ? 'chat-panel-error' : 'chat-panel-note', role: 'status' }, sentState[0].text));

    return h('div', { className: 'chat-panel' }, h('div', { className: 'graphiql-doc-explorer-title' }, 'Sign in'), signedIn, h(TransportChoice), sender);
  }

  /** Which transport subscriptions take from now on (a running subscription keeps its own). */
  function TransportChoice() {
    var state = React.useState(transport);
    return h('label', { className: 'chat-panel-section chat-panel-field' },
      h('span', null, 'Subscriptions over'),
      h('select', {
        name: 'transport',
        value: state[0],
        onChange: function (event) { setTransport(event.target.value); state[1](event.target.value); },
      }, Object.keys(TRANSPORTS).map(function (name) { return h('option', { key: name, value: name }, TRANSPORTS[name]); })));
  }

  function KeyIcon() {
    return h('svg', { viewBox: '0 0 24 24', fill: 'none', stroke: 'currentColor', strokeWidth: 1.5, 'aria-hidden': true, width: '1em', height: '1em' },
      h('circle', { cx: 8, cy: 15, r: 4 }),
      h('path', { d: 'M11 12l9-9M16 7l3 3M14 9l2 2' }));
  }

  var signInPlugin = { title: 'Sign in', icon: KeyIcon, content: SignInPanel };

  // GraphiQL 3 opens the first of its default tabs with an empty Variables editor (it takes only
  // the query from it): on a first visit, put that tab's variables in.
  var firstVisit = (function () {
    try { return window.localStorage.getItem('graphiql:tabState') === null; } catch (_) { return true; }
  })();
  function FirstTabVariables() {
    var editorContext = GraphiQL.React.useEditorContext({ nonNull: true });
    var applied = React.useRef(!firstVisit);
    var editor = editorContext.variableEditor;
    React.useEffect(function () {
      if (applied.current || !editor) return;
      applied.current = true;
      if (editorContext.activeTabIndex === 0 && !editor.getValue() && config.tabs[0]) editor.setValue(config.tabs[0].variables || '');
    }, [editor]);
    return null;
  }

  // A first visit opens the Sign in panel; after that GraphiQL remembers which panel was open.
  try {
    if (window.localStorage.getItem('graphiql:visiblePlugin') === null) window.localStorage.setItem('graphiql:visiblePlugin', signInPlugin.title);
  } catch (_) { /* storage disabled: GraphiQL keeps nothing either */ }

  ReactDOM.createRoot(document.getElementById('graphiql')).render(
    h(GraphiQL, {
      fetcher: fetcher,
      defaultTabs: config.tabs,
      plugins: [signInPlugin],
      defaultEditorToolsVisibility: true,
      shouldPersistHeaders: false,
      toolbar: { additionalComponent: FirstTabVariables },
    }),
  );
})();
