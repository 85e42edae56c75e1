"""Running the exporter: the lifecycle of a server run, the production servers, the WSGI entry point."""

#: What the production servers load in each worker, after the fork (importing it builds the app).
WSGI_APP = "perfbudget.server.wsgi:application"
