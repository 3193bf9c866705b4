"""The Flask-pyoidc side of the end-to-end benchmark (scripts/bench.sh --compare).

The same routes as examples/quickstart.rs, written the way Flask-pyoidc's quickstart writes
them, run under gunicorn by benches/e2e.rs against the same test provider:

    GET /        public, plain text
    GET /login   @auth.oidc_auth('default'): the session's tokens as JSON
    GET /whoami  @auth.oidc_auth('default'): the user's `sub`, plain text

Configured by environment variables (set by the benchmark):
    BENCH_ISSUER, BENCH_REDIRECT_URI, BENCH_CLIENT_ID, BENCH_CLIENT_SECRET, BENCH_SECRET_KEY

One addition to a stock Flask-pyoidc app: PKCE. Flask-pyoidc 3.14.3 sends no
`code_challenge`, and the test provider (tests/op) requires PKCE S256 of every client, so the
two wrappers below add a challenge to the authorization request and the verifier to the
token request (one SHA-256 and 48 random bytes per login: noise next to the rest).
"""

import base64
import hashlib
import os
import secrets

import flask
from flask import Flask, jsonify
from flask_pyoidc import OIDCAuthentication
from flask_pyoidc.provider_configuration import ClientMetadata, ProviderConfiguration
from flask_pyoidc.pyoidc_facade import PyoidcFacade
from flask_pyoidc.user_session import UserSession

_authentication_request = PyoidcFacade.authentication_request
_exchange_authorization_code = PyoidcFacade.exchange_authorization_code


def _authentication_request_with_pkce(self, state, nonce, extra_auth_params):
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode('ascii')).digest())
    flask.session['pkce_code_verifier'] = verifier
    params = dict(extra_auth_params,
                  code_challenge=challenge.rstrip(b'=').decode('ascii'),
                  code_challenge_method='S256')
    return _authentication_request(self, state, nonce, params)


def _exchange_authorization_code_with_pkce(self, authorization_code, state, extra_token_args):
    args = dict(extra_token_args)
    args['extra_args'] = {'code_verifier': flask.session.pop('pkce_code_verifier', '')}
    return _exchange_authorization_code(self, authorization_code, state, args)


PyoidcFacade.authentication_request = _authentication_request_with_pkce
PyoidcFacade.exchange_authorization_code = _exchange_authorization_code_with_pkce

app = Flask(__name__)
app.config.update(
    OIDC_REDIRECT_URI=os.environ['BENCH_REDIRECT_URI'],
    SECRET_KEY=os.environ['BENCH_SECRET_KEY'],
)

config = ProviderConfiguration(
    issuer=os.environ['BENCH_ISSUER'],
    client_metadata=ClientMetadata(
        client_id=os.environ['BENCH_CLIENT_ID'],
        client_secret=os.environ['BENCH_CLIENT_SECRET'],
    ),
    auth_request_params={'scope': ['openid', 'email', 'profile']},
)
auth = OIDCAuthentication({'default': config}, app)


@app.route('/')
def index():
    return 'Hello! This page is public. Visit /login to log in, /logout to log out.\n', 200, {
        'Content-Type': 'text/plain; charset=utf-8'}


@app.route('/login')
@auth.oidc_auth('default')
def login():
    user_session = UserSession(flask.session)
    return jsonify(access_token=user_session.access_token,
                   id_token=user_session.id_token,
                   userinfo=user_session.userinfo)


@app.route('/whoami')
@auth.oidc_auth('default')
def whoami():
    return UserSession(flask.session).id_token['sub'], 200, {
        'Content-Type': 'text/plain; charset=utf-8'}


@auth.error_view
def error(error=None, error_description=None):
    return jsonify({'error': error, 'message': error_description}), 400
