"""The in-car apps platform: signed packages, a registry, permissions enforced by the broker,
one supervised process per app, and the app host that carries templates and notifications
between apps and the HMI. The contract is ``docs/apps.md``."""
