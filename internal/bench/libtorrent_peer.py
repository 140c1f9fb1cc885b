"""One libtorrent-rasterbar peer of dist-bench's libtorrent rows.

internal/bench/libtorrent.go embeds this file, writes it into the row's
work directory and runs one copy per peer with /usr/bin/python3 (Debian's
python3-libtorrent), as the aria2 row runs one aria2c per peer. The Go side
talks to it through the process only:

- it reads the JSON object this script keeps in --status (replaced whole,
  write then rename, so a reader never sees half of one);
- a leecher waits, its session up and listening, until it gets SIGUSR1,
  so that every leecher of a row starts at the same moment and the
  interpreter's start is not timed; a --seed adds its torrent at once,
  checks the archive in --dir and says "seeding";
- SIGTERM or SIGINT end it: it stops the session (which says goodbye to
  the tracker) and exits 0.

--print-settings prints the session settings and the peer class filter as
JSON and exits, for the Go tests.
"""

import argparse
import json
import os
import signal
import sys
import time

import libtorrent as lt

# How often the status file is rewritten when nothing happens, and the
# longest a finished download waits before it is reported (alerts wake the
# loop at once).
STATUS_EVERY = 0.1
# How often a progress line goes to stdout (the peer's log), stamped with
# the wall clock (Unix seconds) to set beside the other peers'.
LOG_EVERY = 1.0


def parse_args(argv):
    p = argparse.ArgumentParser(prog="libtorrent_peer.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--torrent", help=".torrent file")
    p.add_argument("--dir", help="download directory (a seeder's holds the archive)")
    p.add_argument("--listen", help="ADDR:PORT to listen on and to bind outgoing connections to")
    p.add_argument("--upload-limit", type=int, default=0, help="upload cap in bytes per second (0: none)")
    p.add_argument("--status", help="file to keep the status in")
    p.add_argument("--seed", action="store_true", help="seed: add the torrent at once and check the archive")
    p.add_argument("--super-seed", action="store_true", help="with --seed: super-seeding (BEP 16)")
    p.add_argument("--print-settings", action="store_true", help="print the settings as JSON and exit")
    a = p.parse_args(argv)
    if a.super_seed and not a.seed:
        p.error("--super-seed needs --seed")
    if a.upload_limit < 0:
        p.error("--upload-limit must not be negative")
    if not a.print_settings:
        for name in ("torrent", "dir", "listen", "status"):
            if not getattr(a, name):
                p.error("--%s is required" % name)
        addr, _, port = a.listen.rpartition(":")
        if not addr or not port.isdigit():
            p.error("--listen wants ADDR:PORT, not %r" % a.listen)
    return a


def settings(listen, upload_limit):
    """The session settings: TCP only and hermetic, like the aria2 row
    (no DHT, local peer discovery, UPnP, NAT-PMP or uTP); encryption as
    libtorrent's default (allowed, not required), as the other rows."""
    addr = listen.rpartition(":")[0].strip("[]")
    return {
        "listen_interfaces": listen,
        # Outgoing connections and announces from the peer's own address,
        # so each peer is a host of its own to the tracker and the others.
        "outgoing_interfaces": addr,
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_outgoing_utp": False,
        "enable_incoming_utp": False,
        "upload_rate_limit": upload_limit,
        "download_rate_limit": 0,
        # The cap counts BitTorrent bytes, as aria2's and distpac's do, not
        # an estimate of TCP/IP headers on top (libtorrent's default).
        "rate_limit_ip_overhead": False,
        # Goodbyes to the tracker must not hold up the end of a row.
        "stop_tracker_timeout": 1,
        "alert_mask": lt.alert_category.error | lt.alert_category.status | lt.alert_category.tracker,
        "user_agent": "dist-bench libtorrent/" + lt.__version__,
    }


def global_class_filter():
    """Every address in the global peer class only. By default libtorrent
    puts local networks (127/8 among them) in the local peer class, which
    rate limits do not bind: on loopback the caps would do nothing."""
    f = lt.ip_filter()
    mask = 1 << lt.session.global_peer_class_id
    f.add_rule("0.0.0.0", "255.255.255.255", mask)
    f.add_rule("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", mask)
    return f


# SIGUSR1 starts a leecher; SIGTERM and SIGINT stop a peer.
SIGNALS = {signal.SIGUSR1, signal.SIGTERM, signal.SIGINT}


def next_signal(timeout):
    """The next of SIGNALS sent to this process within timeout seconds
    (0: only one pending), or None."""
    info = signal.sigtimedwait(SIGNALS, timeout)
    return info.si_signo if info else None


def write_status(path, st):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(st, f)
    os.replace(tmp, path)


STATES = {
    lt.torrent_status.checking_files: "checking",
    lt.torrent_status.downloading_metadata: "metadata",
    lt.torrent_status.downloading: "downloading",
    lt.torrent_status.finished: "finished",
    lt.torrent_status.seeding: "seeding",
    lt.torrent_status.checking_resume_data: "checking",
}


def status_of(h, st):
    """The counters the Go side reads; error is set when the torrent
    stopped on one (a disk or data error, not a peer's or the tracker's)."""
    out = {
        "state": STATES.get(st.state, str(st.state)),
        "wanted": st.total_wanted,
        "done": st.total_wanted_done,
        "uploaded": st.total_payload_upload,
        "downloaded": st.total_payload_download,
        "peers": st.num_peers,
        "super_seeding": bool(h.flags() & lt.torrent_flags.super_seeding),
    }
    if st.errc.value() != 0:
        out["error"] = st.errc.message()
    return out


def main(argv):
    a = parse_args(argv)
    if a.print_settings:
        s = settings(a.listen or "127.0.0.1:6881", a.upload_limit)
        f = global_class_filter()
        classes = {ip: f.access(ip) for ip in ("127.0.0.1", "127.0.1.9", "10.1.2.3", "192.168.0.1", "198.18.0.1", "8.8.8.8", "::1", "fe80::1")}
        print(json.dumps({"settings": s, "peer_classes": classes}))
        return 0

    # The signals are blocked and taken with sigtimedwait, not handled: a
    # handler that sets a threading.Event can deadlock on the Event's lock
    # when it runs while the main thread holds it in Event.wait (Event's
    # lock is not reentrant; one leecher in about 120 of bench-swarm's
    # stayed "ready" until its row timed out). Blocked before the session
    # starts its threads, which inherit the mask.
    signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)

    ses = lt.session(settings(a.listen, a.upload_limit))
    ses.set_peer_class_filter(global_class_filter())
    status = {"state": "ready", "pid": os.getpid(), "libtorrent": lt.__version__}
    write_status(a.status, status)
    stop = False
    if not a.seed:
        sig = None
        while sig not in SIGNALS:
            sig = next_signal(1.0)
        stop = sig != signal.SIGUSR1
    h = None
    if not stop:
        atp = lt.add_torrent_params()
        atp.ti = lt.torrent_info(a.torrent)
        atp.save_path = a.dir
        h = ses.add_torrent(atp)
    next_log = time.monotonic()
    while not stop:
        ses.wait_for_alert(int(STATUS_EVERY * 1000))
        stop = next_signal(0) in (signal.SIGTERM, signal.SIGINT)
        for al in ses.pop_alerts():
            if isinstance(al, lt.torrent_finished_alert) and "finished_ns" not in status:
                status["finished_ns"] = time.time_ns()
            if al.category() & lt.alert_category.error:
                print(al.message(), flush=True)
        st = h.status()
        if st.is_seeding and "finished_ns" not in status:
            status["finished_ns"] = time.time_ns()
        if a.super_seed and st.is_seeding and not (h.flags() & lt.torrent_flags.super_seeding):
            h.set_flags(lt.torrent_flags.super_seeding)
        status.update(status_of(h, st))
        write_status(a.status, status)
        if time.monotonic() >= next_log:
            next_log += LOG_EVERY
            print("%.3f %s %.1f%% peers %d down %d B/s up %d B/s uploaded %d" % (
                time.time(), status["state"], 100 * st.progress, st.num_peers,
                st.download_rate, st.upload_rate, st.total_payload_upload), flush=True)
    ses.pause()
    del ses
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
