"""The console's pages, in the order the navigation shows them. Each module names its `ENDPOINT` (the
view the navigation links to), its `TITLE`, and `blueprint(console)`."""

from simulator.console.pages import bridge, campaigns, deliveries, pipeline, users, world

PAGES = (pipeline, users, campaigns, bridge, deliveries, world)
