"""The FUSE layer: pyfuse3 handlers over a view (operations), the mount daemon
(daemon), the mount registry (registry) and mount-point checks (mountpoint).

Only this package imports pyfuse3 and trio, and only in the process that serves.
"""
