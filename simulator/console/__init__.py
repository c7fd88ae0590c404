"""The console: a web app on top of a running stack, where a team watches notifications cross the three
products and acts as the end user (DESIGN.md, "The console").

The console follows the services' journals and admin APIs **server-side** (`follower`, `stack_client`) and
streams what changed to the browser over one event stream (`live`); the browser talks only to the console,
whose own surface is guarded like the services' `/_admin` (loopback Host, same origin, JSON bodies). Pages are
server-rendered Jinja with small scripts for their live parts, shipped in the package (`static/`): no build
step, nothing fetched from the internet.
"""
