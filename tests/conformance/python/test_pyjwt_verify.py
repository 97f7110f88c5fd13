"""Access tokens verified with PyJWT (Debian python3-jwt): PyJWKClient fetches
the signing key from the published jwks_uri and jwt.decode checks signature,
audience, issuer, expiry and the pinned algorithm; the header's typ must be
at+jwt (RFC 9068 §2.1). Altered tokens must be refused. For each algorithm.
"""

import time
import unittest

import jwt
from jwt.api_jwt import decode_complete
from jwt import PyJWKClient
from jwt.exceptions import (ExpiredSignatureError, InvalidAlgorithmError, InvalidAudienceError,
                            InvalidIssuerError, InvalidSignatureError, InvalidTokenError,
                            MissingRequiredClaimError, PyJWKClientError)

import agentidp_harness as h

OTHER_ALGS = ['RS256', 'ES256', 'EdDSA', 'PS256', 'ES384', 'HS256']
REQUIRED = ['iss', 'sub', 'aud', 'exp', 'iat', 'jti']


class PyJwtVerify:
    ALG = None

    @classmethod
    def setUpClass(cls):
        cls.server = h.start_server(cls.ALG)
        try:
            cls.agent = h.register_agent(cls.server)
            cls.metadata = h.discovery(cls.server)
            cls.jwks = PyJWKClient(cls.metadata['jwks_uri'])
        except BaseException:
            cls.server.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def token(self, scope=None):
        res = h.request_token(self.server, self.agent.client_id, self.agent.client_secret, scope)
        self.assertEqual(res.status, 200, repr(res))
        return res.json

    def decode(self, token, key=None, algorithms=None, audience=None, issuer=None, **kwargs):
        """Verified header and claims, the way a resource server would check them."""
        if key is None:
            key = self.jwks.get_signing_key_from_jwt(token).key
        options = {'require': REQUIRED, **kwargs.pop('options', {})}
        decoded = decode_complete(
            token, key,
            algorithms=algorithms or [self.ALG],
            audience=audience or self.server.audience,
            issuer=issuer or self.server.issuer,
            options=options, **kwargs,
        )
        if decoded['header'].get('typ') != 'at+jwt':
            raise InvalidTokenError(f'typ is {decoded["header"].get("typ")!r}, not at+jwt')
        return decoded

    def test_signing_key_comes_from_the_jwks_uri(self):
        token = self.token()['access_token']
        key = self.jwks.get_signing_key_from_jwt(token)
        header = jwt.get_unverified_header(token)
        self.assertEqual(key.key_id, header['kid'])
        self.assertEqual(header['alg'], self.ALG)
        published = [k.key_id for k in self.jwks.get_signing_keys()]
        self.assertIn(header['kid'], published)

    def test_verifies_with_audience_issuer_typ_and_pinned_algorithm(self):
        body = self.token()
        decoded = self.decode(body['access_token'])
        header, claims = decoded['header'], decoded['payload']
        self.assertEqual(header['alg'], self.ALG)
        self.assertEqual(header['typ'], 'at+jwt')
        self.assertEqual(claims['iss'], self.server.issuer)
        self.assertEqual(claims['sub'], self.agent.agent_id)
        self.assertEqual(claims['client_id'], self.agent.client_id)
        self.assertEqual(claims['scope'], body['scope'])
        aud = claims['aud'] if isinstance(claims['aud'], list) else [claims['aud']]
        self.assertIn(self.server.audience, aud)
        self.assertEqual(claims['exp'] - claims['iat'], body['expires_in'])

    def test_two_tokens_have_different_jti(self):
        a = self.decode(self.token()['access_token'])['payload']['jti']
        b = self.decode(self.token()['access_token'])['payload']['jti']
        self.assertNotEqual(a, b)

    def test_wrong_audience_is_refused(self):
        token = self.token()['access_token']
        with self.assertRaises(InvalidAudienceError):
            self.decode(token, audience='https://some-other-api.example')

    def test_wrong_issuer_is_refused(self):
        token = self.token()['access_token']
        with self.assertRaises(InvalidIssuerError):
            self.decode(token, issuer='https://not-the-issuer.example')

    def test_expired_by_the_clock_is_refused(self):
        token = self.token()['access_token']
        # A negative leeway moves "now" past exp (3600 s); iat's own check
        # would fire first, so it is off for this one.
        with self.assertRaises(ExpiredSignatureError):
            self.decode(token, leeway=-2 * 3600, options={'verify_iat': False})

    def test_algorithm_outside_the_allowed_list_is_refused(self):
        token = self.token()['access_token']
        key = self.jwks.get_signing_key_from_jwt(token).key
        others = [a for a in OTHER_ALGS if a != self.ALG]
        with self.assertRaises(InvalidAlgorithmError):
            self.decode(token, key=key, algorithms=others)

    def test_id_token_is_not_taken_for_an_access_token(self):
        # Same issuer, same key, valid signature: only typ tells them apart.
        body = self.token('openid')
        self.assertIsInstance(body.get('id_token'), str, body)
        key = self.jwks.get_signing_key_from_jwt(body['id_token']).key
        with self.assertRaisesRegex(InvalidTokenError, 'not at\\+jwt'):
            self.decode(body['id_token'], key=key, audience=self.agent.client_id,
                        options={'require': ['iss', 'aud', 'exp']})
        self.decode(body['access_token'])  # while the access token passes

    def test_altered_header_is_refused(self):
        token = self.token()['access_token']
        with self.assertRaises(InvalidSignatureError):
            self.decode(h.with_header(token, typ='JWT'))

    def test_altered_signature_is_refused(self):
        token = self.token()['access_token']
        with self.assertRaises(InvalidSignatureError):
            self.decode(h.flip_signature_bit(token))

    def test_altered_claims_are_refused(self):
        token = self.token()['access_token']
        for change in ({'scope': 'admin:orgs'}, {'sub': '00000000-0000-4000-8000-000000000000'},
                       {'exp': int(time.time()) + 86400 * 365}, {'iss': 'https://attacker.example'}):
            with self.subTest(change=change):
                with self.assertRaises(InvalidSignatureError):
                    self.decode(h.with_claims(token, **change))

    def test_missing_required_claim_is_refused(self):
        token = self.token()['access_token']
        with self.assertRaises(MissingRequiredClaimError):
            self.decode(token, options={'require': REQUIRED + ['not_a_claim_we_issue']})

    def test_unknown_kid_finds_no_key(self):
        token = self.token()['access_token']
        with self.assertRaises(PyJWKClientError):
            self.jwks.get_signing_key_from_jwt(h.with_header(token, kid='not-a-published-kid'))

    def test_alg_none_is_refused(self):
        token = self.token()['access_token']
        key = self.jwks.get_signing_key_from_jwt(token).key
        header = h.b64url_encode(b'{"alg":"none","typ":"at+jwt"}')
        unsigned = f'{header}.{token.split(".")[1]}.'
        with self.assertRaises(InvalidAlgorithmError):
            self.decode(unsigned, key=key)


h.per_algorithm(globals(), PyJwtVerify, 'PyJwtVerify')

if __name__ == '__main__':
    unittest.main()
