"""Local fakes of the payment providers, speaking their real wire formats: a Stripe API (REST v1, signed
webhooks) and an Alipay open-API gateway (RSA2, a hosted wallet page, signed notifies). The official
libraries work against them with only their base URL changed. Apart from the floors: nothing in core,
accounts, codes or sale imports this package; the app (its `flashsale dev payments` command, the demo)
and the load test may."""
