"""The client_credentials grant, introspection (RFC 7662) and revocation
(RFC 7009) driven by Authlib's requests OAuth2Session (Debian python3-authlib),
with a freshly registered agent as the OAuth client, for each signing algorithm.
"""

import base64
import time
import unittest
import urllib.parse

from authlib.integrations.requests_client import OAuth2Session, OAuthError

import agentidp_harness as h

AUTH_METHODS = ('client_secret_basic', 'client_secret_post')


def scope_set(scope):
    return set(str(scope or '').split())


class AuthlibClient:
    ALG = None

    @classmethod
    def setUpClass(cls):
        cls.server = h.start_server(cls.ALG)
        try:
            cls.agent = h.register_agent(cls.server)
            cls.metadata = h.discovery(cls.server)
        except BaseException:
            cls.server.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def session(self, method, client_id=None, client_secret=None):
        """An OAuth2Session using `method` for the token, introspection and
        revocation endpoints, recording every response (and so request) it sees."""
        sess = OAuth2Session(
            client_id or self.agent.client_id,
            client_secret or self.agent.client_secret,
            token_endpoint_auth_method=method,
            revocation_endpoint_auth_method=method,
        )
        sess.seen = []
        sess.hooks['response'].append(lambda res, *a, **kw: sess.seen.append(res))
        self.addCleanup(sess.close)
        return sess

    def assert_client_auth(self, sess, method, client_id, client_secret):
        """The last request really carried the credentials the way `method` says."""
        request = sess.seen[-1].request
        body = request.body or ''
        if isinstance(body, bytes):
            body = body.decode('utf-8')
        form = dict(urllib.parse.parse_qsl(body))
        auth = request.headers.get('Authorization', '')
        if method == 'client_secret_basic':
            self.assertTrue(auth.startswith('Basic '), f'no Basic header: {dict(request.headers)}')
            user, _, password = base64.b64decode(auth[6:]).decode('utf-8').partition(':')
            self.assertEqual((user, password), (client_id, client_secret))
            self.assertNotIn('client_secret', form)
        else:
            self.assertEqual(auth, '', 'client_secret_post sends no Authorization header')
            self.assertEqual(form.get('client_id'), client_id)
            self.assertEqual(form.get('client_secret'), client_secret)

    def fetch(self, sess, **kwargs):
        token = sess.fetch_token(self.metadata['token_endpoint'], grant_type='client_credentials', **kwargs)
        self.assertIsInstance(token.get('access_token'), str)
        return token

    def introspect(self, sess, token, **kwargs):
        res = sess.introspect_token(self.metadata['introspection_endpoint'], token=token, **kwargs)
        self.assertEqual(res.status_code, 200, res.text)
        self.assertTrue(res.headers.get('Content-Type', '').startswith('application/json'), res.headers)
        return res.json()

    def test_metadata_names_the_endpoints(self):
        iss = self.server.issuer
        self.assertEqual(self.metadata['issuer'], iss)
        self.assertEqual(self.metadata['token_endpoint'], f'{iss}/api/v1/token')
        self.assertEqual(self.metadata['introspection_endpoint'], f'{iss}/api/v1/token/introspect')
        self.assertEqual(self.metadata['revocation_endpoint'], f'{iss}/api/v1/token/revoke')
        for m in AUTH_METHODS:
            self.assertIn(m, self.metadata.get('token_endpoint_auth_methods_supported', []))

    def _grant_then_introspect(self, method):
        sess = self.session(method)
        before = int(time.time())
        token = self.fetch(sess)
        self.assert_client_auth(sess, method, self.agent.client_id, self.agent.client_secret)
        self.assertEqual(token['token_type'].lower(), 'bearer')
        self.assertIsInstance(token['expires_in'], int)
        self.assertGreater(token['expires_in'], 0)
        self.assertGreaterEqual(token['expires_at'], before + token['expires_in'] - 5)
        self.assertTrue(scope_set(token.get('scope')), f'token response lacks scope: {dict(token)}')
        self.assertNotIn('refresh_token', token, 'client_credentials issues no refresh token (RFC 6749 §4.4.3)')

        info = self.introspect(sess, token['access_token'])
        self.assert_client_auth(sess, method, self.agent.client_id, self.agent.client_secret)
        self.assertIs(info['active'], True, info)
        self.assertEqual(info['sub'], self.agent.agent_id)
        self.assertEqual(info['client_id'], self.agent.client_id)
        self.assertEqual(info['iss'], self.server.issuer)
        self.assertEqual(scope_set(info['scope']), scope_set(token['scope']))
        self.assertIsInstance(info['exp'], int)
        self.assertGreater(info['exp'], time.time())
        if 'iat' in info:
            self.assertLessEqual(info['iat'], info['exp'])
        if 'token_type' in info:
            self.assertEqual(info['token_type'].lower(), 'bearer')
        aud = info.get('aud')
        if aud is not None:
            self.assertIn(self.server.audience, aud if isinstance(aud, list) else [aud])

    def test_client_secret_basic_grant_and_introspection(self):
        self._grant_then_introspect('client_secret_basic')

    def test_client_secret_post_grant_and_introspection(self):
        self._grant_then_introspect('client_secret_post')

    def test_token_response_is_not_cacheable(self):
        sess = self.session('client_secret_basic')
        self.fetch(sess)
        self.assertIn('no-store', sess.seen[-1].headers.get('Cache-Control', ''))

    def test_narrower_scope_is_honoured(self):
        sess = self.session('client_secret_basic')
        full = scope_set(self.fetch(sess)['scope'])
        one = sorted(full)[0]
        token = self.fetch(sess, scope=one)
        self.assertEqual(scope_set(token['scope']), {one})
        info = self.introspect(self.session('client_secret_post'), token['access_token'])
        self.assertIs(info['active'], True)
        self.assertEqual(scope_set(info['scope']), {one})

    def test_admin_introspects_the_agents_token(self):
        token = self.fetch(self.session('client_secret_post'))
        admin = self.session('client_secret_basic', self.server.admin_client_id, self.server.admin_client_secret)
        info = self.introspect(admin, token['access_token'], token_type_hint='access_token')
        self.assertIs(info['active'], True, info)
        self.assertEqual(info['sub'], self.agent.agent_id)
        self.assertEqual(info['client_id'], self.agent.client_id)

    def _revoke(self, method):
        sess = self.session(method)
        token = self.fetch(sess)
        self.assertIs(self.introspect(sess, token['access_token'])['active'], True)

        res = sess.revoke_token(self.metadata['revocation_endpoint'], token=token['access_token'],
                                token_type_hint='access_token')
        self.assertEqual(res.status_code, 200, res.text)
        self.assert_client_auth(sess, method, self.agent.client_id, self.agent.client_secret)

        # RFC 7662 §2.2 / SPEC §5: nothing but active=false may be disclosed.
        self.assertEqual(self.introspect(sess, token['access_token']), {'active': False})
        self.assertEqual(self.introspect(self.session('client_secret_basic'), token['access_token']),
                         {'active': False})

    def test_revoke_with_client_secret_basic(self):
        self._revoke('client_secret_basic')

    def test_revoke_with_client_secret_post(self):
        self._revoke('client_secret_post')

    def test_revoking_one_token_leaves_another_active(self):
        sess = self.session('client_secret_basic')
        a = self.fetch(sess)['access_token']
        b = self.fetch(sess)['access_token']
        self.assertNotEqual(a, b)
        self.assertEqual(sess.revoke_token(self.metadata['revocation_endpoint'], token=a).status_code, 200)
        self.assertEqual(self.introspect(sess, a), {'active': False})
        self.assertIs(self.introspect(sess, b)['active'], True)

    def test_revoking_an_unknown_token_succeeds(self):
        sess = self.session('client_secret_post')
        res = sess.revoke_token(self.metadata['revocation_endpoint'], token='not-a-token-we-ever-issued')
        self.assertEqual(res.status_code, 200, res.text)

    def test_revocation_without_client_authentication_is_refused(self):
        sess = self.session('client_secret_basic')
        token = self.fetch(sess)['access_token']
        # Authlib's 'none' method: a public client naming itself by client_id only.
        public = self.session('none')
        res = public.revoke_token(self.metadata['revocation_endpoint'], token=token)
        sent = dict(urllib.parse.parse_qsl(res.request.body))
        self.assertEqual(sent.get('client_id'), self.agent.client_id)
        self.assertNotIn('client_secret', sent)
        self.assertNotIn('Authorization', res.request.headers)
        self.assertEqual(res.status_code, 401, res.text)
        self.assertEqual(res.json().get('error'), 'invalid_client')
        self.assertIs(self.introspect(sess, token)['active'], True, 'the refused call left the token alone')

    def test_introspecting_garbage_is_inactive(self):
        info = self.introspect(self.session('client_secret_basic'), 'garbage.garbage.garbage')
        self.assertEqual(info, {'active': False})

    def test_introspecting_an_altered_token_is_inactive(self):
        sess = self.session('client_secret_basic')
        token = self.fetch(sess)['access_token']
        self.assertEqual(self.introspect(sess, h.flip_signature_bit(token)), {'active': False})
        self.assertEqual(self.introspect(sess, h.with_claims(token, scope='admin:orgs')), {'active': False})
        self.assertEqual(self.introspect(sess, h.with_claims(token, exp=int(time.time()) + 86400 * 365)),
                         {'active': False})
        self.assertIs(self.introspect(sess, token)['active'], True, 'the untouched token is still active')

    def test_wrong_secret_is_invalid_client(self):
        wrong = 'sk_live_' + '0' * 64
        for method in AUTH_METHODS:
            with self.subTest(method=method):
                sess = self.session(method, self.agent.client_id, wrong)
                with self.assertRaises(OAuthError) as caught:
                    self.fetch(sess)
                self.assertEqual(caught.exception.error, 'invalid_client')
                self.assertEqual(sess.seen[-1].status_code, 401, sess.seen[-1].text)
                self.assert_client_auth(sess, method, self.agent.client_id, wrong)

    def test_unknown_client_is_invalid_client(self):
        sess = self.session('client_secret_basic', '00000000-0000-4000-8000-000000000000', 'sk_live_' + '1' * 64)
        with self.assertRaises(OAuthError) as caught:
            self.fetch(sess)
        self.assertEqual(caught.exception.error, 'invalid_client')


h.per_algorithm(globals(), AuthlibClient, 'AuthlibClient')

if __name__ == '__main__':
    unittest.main()
