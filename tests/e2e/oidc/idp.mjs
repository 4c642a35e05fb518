// The OpenID Connect provider of the OIDC end-to-end test: the real `oidc-provider` on
// loopback HTTPS, with resource indicators (RFC 8707: the access token's audience is the
// resource the client asked for, as a JWT) and PKCE (required by default).
//
//   node tests/e2e/oidc/idp.mjs CERT.pem KEY.pem
//
// Prints one JSON line {"issuer": "https://127.0.0.1:PORT"} once it listens (PORT: $IDP_PORT, else
// any free one), then serves until killed. What the test needs beside a real provider:
// - sign-in without a person: /interaction/{uid} signs in IDP_ACCOUNT (default "alice") and
//   grants what the client asked for, then resumes the authorization request, so a client that
//   follows the redirects (with the provider's cookies) ends at its redirect URI with a code;
// - POST /test/sign {claims}: a JWT signed with the provider's own access-token key, for the
//   refusal cases (another audience, another issuer, expired, another namespace).
// One public client is registered: "minimcp-e2e" (native, loopback redirect URIs).
import {readFileSync} from 'node:fs';
import {createServer} from 'node:https';
import {exportJWK, generateKeyPair, importJWK, SignJWT} from 'jose';
import Provider from 'oidc-provider';

const [certFile, keyFile] = process.argv.slice(2);
if (!certFile || !keyFile) {
  console.error('usage: node idp.mjs CERT.pem KEY.pem');
  process.exit(2);
}

const accounts = {
  alice: {groups: ['minimcp:alice', 'staff']},
  bob: {groups: ['minimcp:bob']},
};
const signInAs = process.env.IDP_ACCOUNT || 'alice';

async function signingKey(alg, kid) {
  const {privateKey} = await generateKeyPair(alg, {extractable: true});
  return {...(await exportJWK(privateKey)), kid, alg, use: 'sig'};
}
const rsa = await signingKey('RS256', 'rs-1');  // ID tokens (the provider's default)
const ec = await signingKey('ES256', 'es-1');  // access tokens

const server = createServer({cert: readFileSync(certFile), key: readFileSync(keyFile)});
await new Promise((ok) => server.listen(Number(process.env.IDP_PORT ?? 0), '127.0.0.1', ok));
const issuer = `https://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'minimcp-e2e',
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code'],
      response_types: ['code'],
      redirect_uris: ['http://127.0.0.1/callback'],
    },
  ],
  jwks: {keys: [rsa, ec]},
  cookies: {keys: ['minimcp-e2e-oidc-cookie-key']},
  scopes: ['openid', 'mcp'],
  findAccount: (_ctx, id) => (accounts[id] ? {accountId: id, claims: () => ({sub: id})} : undefined),
  extraTokenClaims: (_ctx, token) =>
    token.kind === 'AccessToken' && accounts[token.accountId]
      ? {groups: accounts[token.accountId].groups}
      : undefined,
  interactions: {url: (_ctx, interaction) => `/interaction/${interaction.uid}`},
  features: {
    devInteractions: {enabled: false},
    resourceIndicators: {
      enabled: true,
      defaultResource: (_ctx, _client, oneOf) => oneOf,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, resource) => ({
        scope: 'mcp',
        audience: resource,
        accessTokenTTL: 300,
        accessTokenFormat: 'jwt',
        jwt: {sign: {alg: 'ES256'}},
      }),
    },
  },
});

// Sign-in and consent without a person.
provider.use(async (ctx, next) => {
  if (!ctx.path.startsWith('/interaction/')) return next();
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  const {prompt, params, session} = details;
  if (prompt.name === 'login') {
    return provider.interactionFinished(ctx.req, ctx.res, {login: {accountId: signInAs}}, {
      mergeWithLastSubmission: false,
    });
  }
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({accountId: session.accountId, clientId: params.client_id});
  const missing = prompt.details;
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [resource, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
    grant.addResourceScope(resource, scopes.join(' '));
  }
  const grantId = await grant.save();
  return provider.interactionFinished(ctx.req, ctx.res, {consent: {grantId}}, {
    mergeWithLastSubmission: true,
  });
});

// Tokens for the refusal cases, signed with the access-token key.
const ecPrivate = await importJWK(ec, 'ES256');
provider.use(async (ctx, next) => {
  if (ctx.path !== '/test/sign' || ctx.method !== 'POST') return next();
  const chunks = [];
  for await (const c of ctx.req) chunks.push(c);
  const claims = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  ctx.body = await new SignJWT(claims)
    .setProtectedHeader({alg: 'ES256', kid: ec.kid, typ: 'at+jwt'})
    .sign(ecPrivate);
  ctx.type = 'application/jwt';
});

server.on('request', provider.callback());
console.log(JSON.stringify({issuer}));
