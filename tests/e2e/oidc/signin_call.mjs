// An MCP client signing in through OpenID Connect, for the OIDC end-to-end test: the SDK v2
// client (@modelcontextprotocol/client) with an OAuth client provider. It connects to the
// gateway without a token, discovers the authorization server from the 401 and the protected
// resource metadata, runs the authorization-code flow with PKCE and a resource indicator, and
// calls one tool with the access token it got.
//
//   NODE_EXTRA_CA_CERTS=CAS.pem node tests/e2e/oidc/signin_call.mjs URL TOOL ARGS_JSON
//
// With ISSUER=URL in the environment it skips the discovery: the same sign-in (the SDK's
// startAuthorization/exchangeAuthorization, PKCE, resource = URL) against that issuer, then the
// call with the token in the Authorization header.
//
// The "browser" is this script: it follows the authorization endpoint's redirects (keeping the
// provider's cookies; the test provider signs its user in and consents without a person) until
// the redirect URI, and hands the code to the SDK. Prints one JSON line
//   {"claims": {access token claims}, "isError": bool, "text": "..."}
// (never the token itself) and exits 0; a failure prints the error on stderr and exits 1.
import {dirname, resolve} from 'node:path';
import {fileURLToPath, pathToFileURL} from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const sdk = resolve(here, '../../../mcp-servers/node_modules/@modelcontextprotocol/client/dist/index.mjs');
const {
  Client,
  StreamableHTTPClientTransport,
  UnauthorizedError,
  discoverAuthorizationServerMetadata,
  exchangeAuthorization,
  startAuthorization,
} = await import(pathToFileURL(sdk));

const [url, tool, argsJson = '{}'] = process.argv.slice(2);
if (!url || !tool) {
  console.error('usage: node signin_call.mjs URL TOOL [ARGS_JSON]');
  process.exit(2);
}

const redirectUrl = 'http://127.0.0.1/callback';
const cookies = new Map();
let tokens;
let verifier;
let callback;

// Follows redirects from the authorization endpoint to the redirect URI; returns its query.
async function browse(start) {
  let at = new URL(start);
  for (let hop = 0; hop < 20; ++hop) {
    const cookie = [...cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await fetch(at, {redirect: 'manual', headers: cookie ? {cookie} : {}});
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const eq = pair.indexOf('=');
      cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
    }
    const location = res.headers.get('location');
    if (!location) throw new Error(`sign-in stopped at ${at.pathname}: HTTP ${res.status} ${await res.text()}`);
    const next = new URL(location, at);
    if (next.href.startsWith(redirectUrl)) return next.searchParams;
    at = next;
  }
  throw new Error('sign-in: too many redirects');
}

const authProvider = {
  get redirectUrl() {
    return redirectUrl;
  },
  get clientMetadata() {
    return {
      client_name: 'minimcp e2e',
      redirect_uris: [redirectUrl],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      scope: 'mcp',
    };
  },
  clientInformation: () => ({client_id: 'minimcp-e2e'}),
  tokens: () => tokens,
  saveTokens: (t) => {
    tokens = t;
  },
  saveCodeVerifier: (v) => {
    verifier = v;
  },
  codeVerifier: () => verifier,
  redirectToAuthorization: async (authorizationUrl) => {
    callback = await browse(authorizationUrl);
  },
};

const connect = async () => {
  const client = new Client({name: 'e2e-oidc', version: '0.1.0'});
  const transport = new StreamableHTTPClientTransport(new URL(url), {authProvider});
  await client.connect(transport);
  return {client, transport};
};

// Sign-in at a known issuer, without asking the gateway.
async function signInDirectly(issuer) {
  const metadata = await discoverAuthorizationServerMetadata(issuer);
  const clientInformation = authProvider.clientInformation();
  const {authorizationUrl, codeVerifier} = await startAuthorization(issuer, {
    metadata,
    clientInformation,
    redirectUrl,
    scope: 'mcp',
    resource: new URL(url),
  });
  const params = await browse(authorizationUrl);
  tokens = await exchangeAuthorization(issuer, {
    metadata,
    clientInformation,
    authorizationCode: params.get('code'),
    iss: params.get('iss') ?? undefined,
    codeVerifier,
    redirectUri: redirectUrl,
    resource: new URL(url),
  });
  const client = new Client({name: 'e2e-oidc', version: '0.1.0'});
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: {headers: {Authorization: `Bearer ${tokens.access_token}`}},
  });
  await client.connect(transport);
  return {client, transport};
}

try {
  let session;
  if (process.env.ISSUER) {
    session = await signInDirectly(process.env.ISSUER);
  } else {
    try {
      session = await connect();
    } catch (err) {
      if (!(err instanceof UnauthorizedError) || !callback) throw err;
      const transport = new StreamableHTTPClientTransport(new URL(url), {authProvider});
      await transport.finishAuth(callback);
      session = await connect();
    }
  }
  const res = await session.client.callTool({name: tool, arguments: JSON.parse(argsJson)});
  const text = (res.content ?? []).filter((c) => c.type === 'text').map((c) => c.text).join('\n');
  const claims = JSON.parse(Buffer.from(tokens.access_token.split('.')[1], 'base64url').toString());
  await session.client.close();
  console.log(JSON.stringify({claims, isError: res.isError === true, text}));
  process.exit(0);
} catch (err) {
  console.error(`signin_call: ${err?.stack ?? err}`);
  process.exit(1);
}
