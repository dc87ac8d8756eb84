"""What a run leaves for people: report.json, report.md, report.html and the plots.

- ``files``: report.json and report.md, the report folder's name;
- ``html_page``: report.html (everything on one page);
- ``plots``: aggregate.png and timeline.png;
- ``series``: the plots' series (per second, per server) from the evidence;
- ``network_picture``: the lab with what the faults did to it, for the page.
"""
