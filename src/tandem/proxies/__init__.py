"""Reverse-proxy configuration renderers: each returns File values rendered from a Plan's ProxySpec."""
