// A real, standards-conformant OpenID provider (node-oidc-provider) on loopback, for the sign-in
// tests (tests/api/test_oidc.py and e2e/31-single-sign-on.spec.ts).
//
//   node e2e/oidc-provider.mjs <redirect URI> [<redirect URI> …]
//
// Listens on a free port of 127.0.0.1 and prints one JSON line: {"issuer": "http://127.0.0.1:N"}.
// One confidential client, `chatgate` / CLIENT_SECRET (client_secret_basic), PKCE required.
// Sign-in is node-oidc-provider's development login form: the login names one of ACCOUNTS (any
// password). Consent is granted for the client's scopes without a page.
import crypto from 'node:crypto'
import http from 'node:http'
import Provider from 'oidc-provider'

export const CLIENT_ID = 'chatgate'
export const CLIENT_SECRET = 'oidc-test-client-secret-5f0c2a'

const ACCOUNTS = {
  // A teacher and administrator of the school: allowed domain, in the admins group.
  alice: { email: 'alice@school.example', name: 'Alice Admin', groups: ['staff', 'chatgate-admins'] },
  // A student: allowed domain, a quota group.
  bob: { email: 'bob@school.example', name: 'Bob Student', groups: ['students'] },
  // Someone from outside: a disallowed domain, no group.
  eve: { email: 'eve@elsewhere.example', name: 'Eve Outsider', groups: [] },
  // Has a local ChatGate account "carol" already (the link test).
  carol: { email: 'carol@school.example', name: 'Carol', groups: ['staff'] },
}

const redirectUris = process.argv.slice(2)
if (redirectUris.length === 0) {
  console.error('usage: node e2e/oidc-provider.mjs <redirect URI> [...]')
  process.exit(2)
}

const server = http.createServer()
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
const issuer = `http://127.0.0.1:${server.address().port}`
const signingKey = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
const scopes = 'openid email profile groups'

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      redirect_uris: redirectUris,
      post_logout_redirect_uris: redirectUris.map((uri) => new URL('/login', uri).href),
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  jwks: { keys: [{ ...signingKey.export({ format: 'jwk' }), kid: 'test-key-1', use: 'sig', alg: 'RS256' }] },
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  pkce: { required: () => true },
  scopes: scopes.split(' '),
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
    groups: ['groups'],
  },
  features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
  async findAccount(ctx, id) {
    const account = ACCOUNTS[id]
    if (!account) return undefined
    return {
      accountId: id,
      async claims() {
        return {
          sub: `sub-${id}`,
          email: account.email,
          email_verified: true,
          name: account.name,
          preferred_username: id,
          groups: account.groups,
        }
      },
    }
  },
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId)
    if (grantId) return ctx.oidc.provider.Grant.find(grantId)
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    })
    grant.addOIDCScope(scopes)
    grant.addOIDCClaims(['email', 'email_verified', 'name', 'preferred_username', 'groups'])
    await grant.save()
    return grant
  },
})
provider.on('server_error', (_ctx, error) => console.error('oidc-provider server_error', error))
server.on('request', provider.callback())
console.log(JSON.stringify({ issuer }))

for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => server.close(() => process.exit(0)))
