"""The dashboard: pages and their static files, served by smartby itself (no CDN, no build step).
Thin like the API: what the tiles and the map compute lives in `smartby.web.readmodel`."""
