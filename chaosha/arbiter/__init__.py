"""The opt-in fence-then-release arbiter (issue 14, item 5).

A crashed, frozen or cut-off Patroni leader is replaced today only when its
ZooKeeper session expires.  The arbiter shortens that: when it has a
*certain* signal that the leader is gone (Docker says its container is not
running, or paused; or it answers nobody, the arbiter included, and no
ZooKeeper member sees its session talking), and the synchronous standby is
healthy, it fences the leader (kills its container and confirms it is not
running), then deletes the leader key, and the leader's member key, only if
both still belong to the session it saw.  Several instances run; one, the
holder of a ZooKeeper lock, acts (:mod:`chaosha.arbiter.loop`).  Nothing
runs unless ``chaosha arbiter start`` (or the ``start_arbiter`` action)
starts it.
"""
