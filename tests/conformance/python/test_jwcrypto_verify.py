"""Access tokens as a resource server sees them (RFC 9068), verified with
jwcrypto (Debian python3-jwcrypto) against the published JWKS, for each signing
algorithm; and refused once their signature, claims or header are altered.
"""

import json
import time
import unittest

from jwcrypto import jwk, jws, jwt
from jwcrypto.common import JWException

import agentidp_harness as h

EXPECTED_KTY = {'RS256': 'RSA', 'ES256': 'EC', 'EdDSA': 'OKP'}
OTHER_ALGS = ['RS256', 'ES256', 'EdDSA', 'PS256', 'ES384', 'HS256']


class JwcryptoVerify:
    ALG = None

    @classmethod
    def setUpClass(cls):
        cls.server = h.start_server(cls.ALG)
        try:
            cls.agent = h.register_agent(cls.server)
            cls.metadata = h.discovery(cls.server)
            res = h.http('GET', cls.metadata['jwks_uri'], headers={'Accept': 'application/json'})
            if res.status != 200:
                raise RuntimeError(f'GET {cls.metadata["jwks_uri"]} -> {res!r}')
            cls.keyset = jwk.JWKSet.from_json(res.text)
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

    def verify(self, token, algs=None, **check):
        claims = {'iss': self.server.issuer, 'aud': self.server.audience, 'exp': None}
        claims.update(check)
        return jwt.JWT(jwt=token, key=self.keyset, algs=algs or [self.ALG], check_claims=claims)

    def test_jwks_holds_public_keys_for_this_algorithm(self):
        keys = [k.export_public(as_dict=True) for k in self.keyset]
        self.assertTrue(keys)
        for k in self.keyset:
            self.assertFalse(k.has_private, f'JWKS exposes a private key: {k.key_id}')
            self.assertTrue(k.key_id, 'every published key has a kid')
        self.assertTrue(any(k['kty'] == EXPECTED_KTY[self.ALG] for k in keys), keys)

    def test_verifies_with_issuer_audience_expiry_and_pinned_algorithm(self):
        body = self.token()
        before = time.time()
        verified = self.verify(body['access_token'], sub=self.agent.agent_id, jti=None, iat=None)
        header = verified.token.jose_header
        self.assertEqual(header['alg'], self.ALG)
        self.assertEqual(header['typ'], 'at+jwt')
        self.assertIsNotNone(self.keyset.get_key(header['kid']), f'kid {header["kid"]} not in the JWKS')

        claims = json.loads(verified.claims)
        self.assertEqual(claims['client_id'], self.agent.client_id)
        self.assertEqual(claims['sub'], claims['client_id'])
        self.assertEqual(claims['organization_id'], self.server.organization_id)
        self.assertEqual(claims['scope'], body['scope'])
        self.assertEqual(claims['exp'] - claims['iat'], body['expires_in'])
        self.assertLessEqual(abs(claims['iat'] - before), 10)
        self.assertGreaterEqual(len(claims['jti']), 16)

    def test_wrong_audience_is_refused(self):
        token = self.token()['access_token']
        with self.assertRaises(jwt.JWTInvalidClaimValue):
            self.verify(token, aud='https://some-other-api.example')

    def test_wrong_issuer_is_refused(self):
        token = self.token()['access_token']
        with self.assertRaises(jwt.JWTInvalidClaimValue):
            self.verify(token, iss='https://not-the-issuer.example')

    def test_expired_by_the_clock_is_refused(self):
        token = self.token()['access_token']
        # check_claims 'exp' with a value checks against that time, no leeway.
        with self.assertRaises(jwt.JWTExpired):
            self.verify(token, exp=int(time.time()) + 2 * 3600)

    def test_algorithm_outside_the_allowed_list_is_refused(self):
        token = self.token()['access_token']
        with self.assertRaises(JWException):
            self.verify(token, algs=[a for a in OTHER_ALGS if a != self.ALG])

    def test_altered_signature_is_refused(self):
        token = self.token()['access_token']
        with self.assertRaises(jws.InvalidJWSSignature):
            self.verify(h.flip_signature_bit(token))

    def test_altered_claims_are_refused(self):
        token = self.token()['access_token']
        for change in ({'scope': 'admin:orgs'}, {'sub': '00000000-0000-4000-8000-000000000000'},
                       {'exp': int(time.time()) + 86400 * 365}, {'aud': 'https://attacker.example'}):
            with self.subTest(change=change):
                with self.assertRaises(jws.InvalidJWSSignature):
                    self.verify(h.with_claims(token, **change))

    def test_altered_header_is_refused(self):
        token = self.token()['access_token']
        with self.assertRaises(jws.InvalidJWSSignature):
            self.verify(h.with_header(token, typ='JWT'))
        # A kid the JWKS does not hold finds no key at all.
        with self.assertRaises(jwt.JWTMissingKey):
            self.verify(h.with_header(token, kid='not-a-published-kid'))

    def test_alg_none_is_refused(self):
        token = self.token()['access_token']
        header = h.b64url_encode(b'{"alg":"none","typ":"at+jwt"}')
        unsigned = f'{header}.{token.split(".")[1]}.'
        with self.assertRaises((JWException, ValueError)):
            self.verify(unsigned, algs=[self.ALG])


h.per_algorithm(globals(), JwcryptoVerify, 'JwcryptoVerify')

if __name__ == '__main__':
    unittest.main()
