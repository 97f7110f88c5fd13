"""Runs the Python conformance tests (unittest) and closes with a line
`python: N passed, N failed` that scripts/test.sh adds to its totals.

Meant for Debian's interpreter, /usr/bin/python3 -s, so that Authlib, jwcrypto
and PyJWT are the Debian packages (python3-authlib, python3-jwcrypto,
python3-jwt); it refuses to run with copies from anywhere else.
"""

import os
import sys
import unittest

DEBIAN_DIST = '/usr/lib/python3/dist-packages'


def check_libraries():
    import authlib
    import jwcrypto
    import jwt
    import requests
    ok = True
    for mod, version in ((authlib, authlib.__version__), (jwcrypto, getattr(jwcrypto, '__version__', '?')),
                         (jwt, jwt.__version__), (requests, requests.__version__)):
        where = os.path.dirname(os.path.dirname(os.path.abspath(mod.__file__)))
        print(f'{mod.__name__} {version} from {where}')
        if where != DEBIAN_DIST:
            print(f'{mod.__name__} is not the Debian package: run with /usr/bin/python3 -s '
                  f'(scripts/install-deps.sh installs python3-{mod.__name__})', file=sys.stderr)
            ok = False
    return ok


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    if not check_libraries():
        print('python: 0 passed, 1 failed')
        return 1
    pattern = sys.argv[1] if len(sys.argv) > 1 else 'test_*.py'
    suite = unittest.defaultTestLoader.discover(here, pattern=pattern, top_level_dir=here)
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)

    # A failure or error inside a subTest is reported once per failing subTest,
    # so count failing tests, not reports. setUpClass errors hold no test: each counts once.
    failing = set()
    for test, _ in result.failures + result.errors + [(t, None) for t in result.unexpectedSuccesses]:
        failing.add(test.id() if not hasattr(test, 'test_case') else test.test_case.id())
    failed = len(failing)
    passed = max(result.testsRun - len(result.skipped) - failed, 0)
    # Nothing here is meant to be skipped: a skip counts as a failure.
    failed += len(result.skipped)
    if result.testsRun == 0:
        failed += 1
    print(f'python: {passed} passed, {failed} failed')
    return 0 if failed == 0 else 1


if __name__ == '__main__':
    sys.exit(main())
