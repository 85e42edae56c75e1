"""Running the exporter: the lifecycle of a server run, the configuration snapshot, the production servers,
and what their workers load."""

#: What gunicorn loads in each worker, after the fork (importing it builds the app).
WSGI_APP = "perfbudget.server.wsgi:application"
#: What granian loads in each worker: the same app behind the asynchronous front (server/front.py).
RSGI_APP = "perfbudget.server.rsgi:application"
