"""localstripe with the two Stripe behaviours InStudio relies on that it lacks.

localstripe (PyPI) is a stateful fake of the Stripe API. This launcher starts it exactly
as its own `localstripe` command does, with two documented additions:

1. Idempotency keys. Stripe replays the first answer to a POST for every later POST with
   the same `Idempotency-Key` (same API key, same path and parameters; other parameters:
   400 `idempotency_error`; the first still running: 409). localstripe ignores the header,
   so a retried request would create a second object. InStudio derives every key from its
   own ids and its tests check that a retry after a timeout creates one PaymentIntent.
2. `charge.refunded`. Stripe sends it when a refund is made; localstripe does not. After a
   successful `POST /v1/refunds` this sends it, with the charge and its refunds.

Production code talks to api.stripe.com, which does both itself.
"""

import asyncio
import json

from aiohttp import web

from localstripe import server
from localstripe.resources import Charge, Event, Refund
from localstripe.webhooks import schedule_webhook

_answers = {}
_running = set()


def _error(status, kind, message):
    return web.json_response({'error': {'type': kind, 'message': message}},
                             status=status)


@web.middleware
async def idempotency(request, handler):
    key = request.headers.get('Idempotency-Key')
    if request.method != 'POST' or not key:
        return await handler(request)
    body = await request.read()
    scope = (request.headers.get('Authorization', ''), key)
    if scope in _running:
        return _error(409, 'idempotency_error',
                      'A request with this Idempotency-Key is still running.')
    seen = _answers.get(scope)
    if seen is not None:
        path, sent, status, text = seen
        if path != request.path or sent != body:
            return _error(400, 'idempotency_error',
                          'Keys for idempotent requests can only be used with '
                          'the same parameters they were first used with.')
        return web.Response(status=status, text=text,
                            content_type='application/json',
                            headers={'Idempotent-Replayed': 'true'})
    _running.add(scope)
    try:
        response = await handler(request)
    finally:
        _running.discard(scope)
    if response.status < 500 and getattr(response, 'text', None) is not None:
        _answers[scope] = (request.path, body, response.status, response.text)
    return response


@web.middleware
async def charge_refunded(request, handler):
    response = await handler(request)
    if (request.method == 'POST' and request.path == '/v1/refunds'
            and response.status == 200
            and response.headers.get('Idempotent-Replayed') != 'true'):
        refund = Refund._api_retrieve(json.loads(response.text)['id'])
        charge = Charge._api_retrieve(refund.charge)
        refunds = [r for r in Refund._api_list_all(
            '/v1/refunds', charge=charge.id)._list]
        event = Event('charge.refunded', charge)
        refunded = sum(r.amount for r in refunds)
        event.data['object']['amount_refunded'] = refunded
        event.data['object']['refunded'] = refunded >= charge.amount
        event.data['object']['refunds'] = {
            'object': 'list',
            'data': [r._export() for r in refunds],
        }
        schedule_webhook(event)
    return response


# Innermost, after localstripe's own error, auth and store middlewares.
server.app.middlewares.append(charge_refunded)
server.app.middlewares.append(idempotency)

if __name__ == '__main__':
    server.start()
