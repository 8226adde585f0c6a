"""The Pipedrive sandbox: a real HTTP server that behaves like Pipedrive."""
