// Widely used JavaScript OIDC clients against authcanary's Bimplus realm (tests/e2e/test_oidc_js_clients.py runs it).
//
//   node oidc_clients.mjs '<json>'
//
// The JSON names the scenario and the realm: {"scenario": "confidential" | "public" | "rotation", "issuer", "base"
// (the Bimplus simulator's base URL: /v2/teams and the control plane), "client_id", "client_secret", "auth" ("basic",
// "post" or "none"), "username", "password", "audience", "scope"}. panva's openid-client (v6) discovers the realm and
// runs the grants, introspection, revocation and userinfo; jose verifies the JWTs against the realm's jwks_uri.
// It prints one JSON document of what it saw on stdout. An unexpected error (a library rejecting the wire format)
// prints {"failed": {...}} with the error's class, code, message and cause, and exits 1.
import * as client from 'openid-client';
import * as jose from 'jose';

const input = JSON.parse(process.argv[2] ?? '{}');
const steps = []; // the step running, for the failure report

function describe(error) {
  let cause = error?.cause;
  if (cause instanceof Error) cause = describe(cause);
  else if (cause !== undefined) cause = JSON.parse(JSON.stringify(cause, (key, value) => (value instanceof Response ? `[Response ${value.status}]` : value)));
  return {
    name: error?.constructor?.name ?? typeof error,
    code: error?.code,
    message: String(error?.message ?? error),
    error: error?.error,
    error_description: error?.error_description,
    status: error?.status,
    cause,
  };
}

async function step(name, action) {
  steps.push(name);
  const result = await action();
  steps.pop();
  return result;
}

// An error the scenario expects: what the library raised, or {"unexpected_success": ...}
async function failure(name, action) {
  try {
    return { unexpected_success: await step(name, action) ?? null };
  } catch (error) {
    steps.pop();
    return describe(error);
  }
}

function clientAuth() {
  switch (input.auth) {
    case 'basic':
      return client.ClientSecretBasic(input.client_secret);
    case 'post':
      return client.ClientSecretPost(input.client_secret);
    case 'none':
      return client.None();
    default:
      throw new Error(`unknown auth ${input.auth}`);
  }
}

async function discover(extra = []) {
  return client.discovery(new URL(input.issuer), input.client_id, undefined, clientAuth(), {
    execute: [client.allowInsecureRequests, ...extra], // http on loopback
  });
}

function passwordGrant(config, password = input.password) {
  return client.genericGrantRequest(config, 'password', {
    username: input.username,
    password,
    scope: input.scope,
  });
}

// jose: the signature by a key of jwks_uri, exp/nbf, iss and aud
async function verified(token, jwks, audience, issuer) {
  const { payload, protectedHeader } = await jose.jwtVerify(token, jwks, {
    issuer,
    audience,
    algorithms: ['RS256'],
  });
  return { header: protectedHeader, claims: payload };
}

function tokenAnswer(tokens) {
  const { access_token, id_token, refresh_token, ...rest } = tokens;
  return {
    ...rest,
    has_access_token: typeof access_token === 'string',
    has_id_token: typeof id_token === 'string',
    has_refresh_token: typeof refresh_token === 'string',
    expiresIn: tokens.expiresIn(),
    id_token_claims: tokens.claims() ?? null, // openid-client's own ID token validation (iss, aud, azp, exp, iat)
  };
}

async function teams(config, accessToken) {
  const response = await client.fetchProtectedResource(config, accessToken, new URL(`${input.base}/v2/teams`), 'GET');
  return { status: response.status, body: response.ok ? await response.json() : await response.text() };
}

async function confidential() {
  // enableNonRepudiationChecks: openid-client also verifies each ID token's signature against jwks_uri
  const config = await step('discovery', () => discover([client.enableNonRepudiationChecks]));
  const metadata = config.serverMetadata();
  const jwks = jose.createRemoteJWKSet(new URL(metadata.jwks_uri));
  const issuer = metadata.issuer;
  const out = { metadata };

  const tokens = await step('password grant', () => passwordGrant(config));
  out.token = tokenAnswer(tokens);
  out.access = await step('jose access token', () => verified(tokens.access_token, jwks, input.audience, issuer));
  out.id = await step('jose id_token', () => verified(tokens.id_token, jwks, input.client_id, issuer));
  out.userinfo = await step('userinfo', () => client.fetchUserInfo(config, tokens.access_token, out.id.claims.sub));
  out.teams = await step('teams', () => teams(config, tokens.access_token));
  out.introspection = await step('introspection', () => client.tokenIntrospection(config, tokens.access_token));
  out.refresh_introspection = await step('introspection of the refresh token', () =>
    client.tokenIntrospection(config, tokens.refresh_token, { token_type_hint: 'refresh_token' }),
  );

  const renewed = await step('refresh', () => client.refreshTokenGrant(config, tokens.refresh_token));
  out.refreshed = tokenAnswer(renewed);
  out.refresh_rotated = renewed.refresh_token !== tokens.refresh_token;
  out.refreshed_access = await step('jose refreshed access token', () =>
    verified(renewed.access_token, jwks, input.audience, issuer),
  );
  out.refreshed_id = await step('jose refreshed id_token', () =>
    verified(renewed.id_token, jwks, input.client_id, issuer),
  );
  out.reused_refresh = await failure('reused refresh token', () =>
    client.refreshTokenGrant(config, tokens.refresh_token),
  );

  // tokenRevocation resolves to undefined on a 200 answer (RFC 7009 §2.2) and throws on anything else
  await step('revocation', () =>
    client.tokenRevocation(config, renewed.refresh_token, { token_type_hint: 'refresh_token' }),
  );
  out.revoked = true;
  out.after_revocation = {
    introspection: await step('introspection after revocation', async () => [
      await client.tokenIntrospection(config, tokens.access_token),
      await client.tokenIntrospection(config, renewed.access_token),
    ]),
    userinfo: await failure('userinfo after revocation', () =>
      client.fetchUserInfo(config, renewed.access_token, out.id.claims.sub),
    ),
    refresh: await failure('refresh after revocation', () => client.refreshTokenGrant(config, renewed.refresh_token)),
    teams: await step('teams after revocation', () => teams(config, renewed.access_token)),
  };

  out.wrong_password = await failure('wrong password', () => passwordGrant(config, 'not-the-password'));
  const service = await step('client_credentials', () => client.clientCredentialsGrant(config, { scope: input.scope }));
  out.client_credentials = {
    token: tokenAnswer(service),
    access: await step('jose service account token', () => verified(service.access_token, jwks, input.audience, issuer)),
  };
  const wrongSecret = await step('discovery with a wrong secret', () =>
    client.discovery(new URL(input.issuer), input.client_id, undefined, client.ClientSecretBasic('not-the-secret'), {
      execute: [client.allowInsecureRequests],
    }),
  );
  out.wrong_secret = await failure('wrong client secret', () => passwordGrant(wrongSecret));
  return out;
}

async function publicClient() {
  const config = await step('discovery', () => discover());
  const metadata = config.serverMetadata();
  const jwks = jose.createRemoteJWKSet(new URL(metadata.jwks_uri));
  const out = {};
  const tokens = await step('password grant', () => passwordGrant(config));
  out.token = tokenAnswer(tokens);
  out.access = await step('jose access token', () =>
    verified(tokens.access_token, jwks, input.audience, metadata.issuer),
  );
  out.id = await step('jose id_token', () => verified(tokens.id_token, jwks, input.client_id, metadata.issuer));
  out.userinfo = await step('userinfo', () => client.fetchUserInfo(config, tokens.access_token, out.id.claims.sub));
  out.refreshed = tokenAnswer(await step('refresh', () => client.refreshTokenGrant(config, tokens.refresh_token)));
  await step('revocation', () => client.tokenRevocation(config, tokens.access_token));
  out.revoked = true;
  out.userinfo_after_revocation = await failure('userinfo after revocation', () =>
    client.fetchUserInfo(config, tokens.access_token, out.id.claims.sub),
  );
  out.client_credentials = await failure('client_credentials', () => client.clientCredentialsGrant(config));
  return out;
}

async function rotation() {
  const config = await step('discovery', () => discover());
  const metadata = config.serverMetadata();
  // jose fetches the JWKS again for an unknown kid at most once per cooldown (30 s by default): a service meets a
  // rotation long after its first fetch, this script a moment after
  const jwks = jose.createRemoteJWKSet(new URL(metadata.jwks_uri), { cooldownDuration: 0 });
  const verify = (tokens) =>
    Promise.all([
      verified(tokens.access_token, jwks, input.audience, metadata.issuer),
      verified(tokens.id_token, jwks, input.client_id, metadata.issuer),
    ]);
  const old = await step('password grant', () => passwordGrant(config));
  const before = await step('jose before the rotation', () => verify(old));
  const rotated = await step('rotate-keys', async () => {
    const response = await fetch(`${input.base}/__authcanary__/rotate-keys`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    return response.json();
  });
  const fresh = await step('password grant after the rotation', () => passwordGrant(config));
  const after = await step('jose after the rotation', () => Promise.all([verify(fresh), verify(old)]));
  const kid = ([access, id]) => [access.header.kid, id.header.kid];
  return { kids: rotated.kids, before: kid(before), after_new: kid(after[0]), after_old: kid(after[1]) };
}

const scenarios = { confidential, public: publicClient, rotation };
try {
  const result = await scenarios[input.scenario]();
  process.stdout.write(JSON.stringify(result) + '\n');
} catch (error) {
  process.stdout.write(JSON.stringify({ failed: { step: steps.at(-1) ?? null, ...describe(error) } }) + '\n');
  process.exitCode = 1;
}
