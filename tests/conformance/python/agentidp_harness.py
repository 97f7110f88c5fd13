"""Test harness for the Python conformance suite: starts a real `agentidp serve`
on an ephemeral loopback port in a fresh temporary data directory, and stops it.

The same contract as lib/server.mjs: the binary comes from AGENTIDP_BIN; the
server writes <data-dir>/listening.json once it accepts connections and
<data-dir>/bootstrap-admin.json on first start. Setup calls (registering an
agent, creating its credential) use the standard library only, so that the
libraries under test are exercised by the tests alone.
"""

import atexit
import base64
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
OUTPUT_TAIL_BYTES = 64 * 1024

# Servers still running when this process exits are killed, so that a crashed
# test module never leaves one behind.
_running = set()


@atexit.register
def _kill_leftovers():
    for proc in list(_running):
        if proc.poll() is None:
            proc.kill()


# Every signing algorithm the server supports (SPEC §5). CONFORMANCE_ALGS
# (comma separated) narrows the run, as for the node suite.
ALGORITHMS = [a.strip() for a in os.environ.get('CONFORMANCE_ALGS', 'RS256,ES256,EdDSA').split(',') if a.strip()]


def server_binary():
    binary = os.environ.get('AGENTIDP_BIN')
    if not binary:
        raise RuntimeError('AGENTIDP_BIN is not set: point it at the agentidp binary (e.g. build/agentidp)')
    binary = os.path.abspath(binary)
    if not os.access(binary, os.X_OK):
        raise RuntimeError(f'AGENTIDP_BIN={binary} is not an executable file')
    return binary


def _read_json_if_complete(path):
    """A missing or half-written file yields None, so that the caller polls again."""
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


class Server:
    """A running agentidp. Use start_server() to get one; stop() it when done."""

    def __init__(self, alg, proc, data_dir, log_path, listening, admin):
        self.alg = alg
        self._proc = proc
        self.data_dir = data_dir
        self._log_path = log_path
        self.url = str(listening['url']).rstrip('/')
        self.port = listening.get('port')
        self.issuer = listening.get('issuer') or admin.get('issuer')
        self.admin_client_id = admin['client_id']
        self.admin_client_secret = admin['client_secret']
        self.organization_id = admin.get('organization_id')
        self.audience = f'{self.issuer}/api/v1'

    def output(self):
        try:
            with open(self._log_path, 'rb') as f:
                data = f.read()
        except OSError:
            return ''
        return data[-OUTPUT_TAIL_BYTES:].decode('utf-8', 'replace')

    def stop(self):
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        _running.discard(self._proc)
        shutil.rmtree(self.data_dir, ignore_errors=True)


def start_server(alg='RS256', env=None):
    binary = server_binary()
    data_dir = tempfile.mkdtemp(prefix='agentidp-test-')
    log_path = os.path.join(data_dir, 'server.log')

    # The server refuses unknown AGENTIDP_* variables (SPEC §9), and
    # AGENTIDP_BIN is the harness's, not a server setting: pass none through.
    child_env = {k: v for k, v in os.environ.items() if not k.startswith('AGENTIDP_')}
    child_env['AGENTIDP_SIGNING_ALG'] = alg
    child_env.update(env or {})

    with open(log_path, 'ab') as log:
        proc = subprocess.Popen(
            [binary, 'serve', '--data-dir', data_dir, '--port', '0'],
            env=child_env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        )
    _running.add(proc)

    def fail(message):
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        _running.discard(proc)
        try:
            with open(log_path, 'rb') as f:
                out = f.read()[-OUTPUT_TAIL_BYTES:].decode('utf-8', 'replace')
        except OSError:
            out = ''
        shutil.rmtree(data_dir, ignore_errors=True)
        raise RuntimeError(f'agentidp ({alg}) {message}. Output:\n{out}')

    deadline = time.monotonic() + START_TIMEOUT_S
    listening = admin = None
    while True:
        code = proc.poll()
        if code is not None:
            fail(f'exited with code {code} before listening')
        listening = listening or _read_json_if_complete(os.path.join(data_dir, 'listening.json'))
        admin = admin or _read_json_if_complete(os.path.join(data_dir, 'bootstrap-admin.json'))
        if listening and listening.get('url') and admin and admin.get('client_id') and admin.get('client_secret'):
            break
        if time.monotonic() > deadline:
            missing = [n for n, v in (('listening.json', listening), ('bootstrap-admin.json', admin)) if not v]
            fail(f'did not write {" and ".join(missing)} within {START_TIMEOUT_S:.0f} s')
        time.sleep(0.025)
    return Server(alg, proc, data_dir, log_path, listening, admin)


# --- plain HTTP helpers (standard library) ---------------------------------

class HttpResult:
    def __init__(self, status, headers, text):
        self.status = status
        self.headers = headers
        self.text = text
        try:
            self.json = json.loads(text)
        except ValueError:
            self.json = None

    def __repr__(self):
        return f'HTTP {self.status} {self.text}'


def http(method, url, headers=None, body=None):
    """One request; never raises on HTTP error statuses."""
    data = body.encode('utf-8') if isinstance(body, str) else body
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as res:
            return HttpResult(res.status, res.headers, res.read().decode('utf-8', 'replace'))
    except urllib.error.HTTPError as err:
        return HttpResult(err.code, err.headers, err.read().decode('utf-8', 'replace'))


def basic_auth(client_id, client_secret):
    """RFC 6749 §2.3.1: form-urlencode each part before joining and base64-encoding."""
    raw = f'{urllib.parse.quote_plus(client_id)}:{urllib.parse.quote_plus(client_secret)}'
    return 'Basic ' + base64.b64encode(raw.encode('utf-8')).decode('ascii')


def request_token(server, client_id, client_secret, scope=None):
    form = {'grant_type': 'client_credentials'}
    if scope is not None:
        form['scope'] = scope
    return http('POST', f'{server.url}/api/v1/token', headers={
        'Authorization': basic_auth(client_id, client_secret),
        'Content-Type': 'application/x-www-form-urlencoded',
        'Accept': 'application/json',
    }, body=urllib.parse.urlencode(form))


def admin_token(server, scope=None):
    res = request_token(server, server.admin_client_id, server.admin_client_secret, scope)
    if res.status != 200 or not isinstance((res.json or {}).get('access_token'), str):
        raise RuntimeError(f'admin token request (scope={scope}) -> {res!r}')
    return res.json['access_token']


class Agent:
    def __init__(self, agent, credential):
        self.agent_id = agent['agentId']
        self.client_id = credential.get('clientId') or agent['agentId']
        self.client_secret = credential['clientSecret']


def register_agent(server, bearer=None):
    """Registers a fresh agent and creates a client_secret credential for it."""
    bearer = bearer or admin_token(server)
    headers = {'Authorization': f'Bearer {bearer}', 'Content-Type': 'application/json'}
    agent_req = {
        'email': f'conformance-py-{uuid.uuid4()}@agents.example.test',
        'agentType': 'custom',
        'version': '1.0.0',
        'capabilities': ['conformance:test'],
        'owner': 'conformance',
        'deploymentEnv': 'development',
    }
    res = http('POST', f'{server.url}/api/v1/agents', headers=headers, body=json.dumps(agent_req))
    if res.status != 201 or not isinstance((res.json or {}).get('agentId'), str):
        raise RuntimeError(f'POST /api/v1/agents {json.dumps(agent_req)} -> {res!r}')
    agent = res.json
    res = http('POST', f'{server.url}/api/v1/agents/{agent["agentId"]}/credentials', headers=headers, body='{}')
    if res.status != 201 or not isinstance((res.json or {}).get('clientSecret'), str):
        raise RuntimeError(f'POST /api/v1/agents/{agent["agentId"]}/credentials {{}} -> {res!r}')
    return Agent(agent, res.json)


def discovery(server):
    res = http('GET', f'{server.url}/.well-known/openid-configuration', headers={'Accept': 'application/json'})
    if res.status != 200 or not isinstance(res.json, dict):
        raise RuntimeError(f'GET /.well-known/openid-configuration -> {res!r}')
    return res.json


# --- JWT surgery for the negative checks -----------------------------------

def b64url_decode(s):
    return base64.urlsafe_b64decode(s + '=' * (-len(s) % 4))


def b64url_encode(b):
    return base64.urlsafe_b64encode(b).rstrip(b'=').decode('ascii')


def flip_signature_bit(token):
    """The same token with one bit in the middle of its signature flipped."""
    h, p, s = token.split('.')
    sig = bytearray(b64url_decode(s))
    sig[len(sig) // 2] ^= 0x01
    return f'{h}.{p}.{b64url_encode(bytes(sig))}'


def with_claims(token, **changes):
    """The same header and signature over a payload with some claims changed."""
    h, p, s = token.split('.')
    claims = json.loads(b64url_decode(p))
    claims.update(changes)
    payload = b64url_encode(json.dumps(claims, separators=(',', ':')).encode('utf-8'))
    return f'{h}.{payload}.{s}'


def with_header(token, **changes):
    """The same payload and signature under a header with some members changed."""
    h, p, s = token.split('.')
    header = json.loads(b64url_decode(h))
    header.update(changes)
    return f'{b64url_encode(json.dumps(header, separators=(",", ":")).encode("utf-8"))}.{p}.{s}'


def per_algorithm(module_globals, base, prefix):
    """Defines one unittest.TestCase per signing algorithm from mixin `base`."""
    import unittest
    for alg in ALGORITHMS:
        name = f'{prefix}_{alg}'
        module_globals[name] = type(name, (base, unittest.TestCase), {
            'ALG': alg, '__qualname__': name, '__module__': module_globals['__name__']})
