"""The lab as a picture, shared by the live page and report.html.

- ``drawing``: the address plan (and the net's links) as a drawing. Pure.
- ``live_state``: events and observations in, the picture's state out. Pure.
"""
