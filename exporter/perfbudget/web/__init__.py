"""HTTP surface: Flask blueprints (one per feature, each with its `init_app`) and the plain-WSGI beacon
endpoint in front of them."""
