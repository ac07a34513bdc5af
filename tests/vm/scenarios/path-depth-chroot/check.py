import os, sys
sys.path[:0] = [os.path.join(os.path.dirname(__file__), "..", "..", "lib"), os.path.join(os.path.dirname(__file__), "..")]
from vmcheck import Run, has_all
from common import CONTAINER_ID

r = Run.from_argv()
for key, why in (("deep_rc", "62 directories below /usr/local/bin"), ("long_rc", "two 250-byte names"),
                 ("chroot_bin_rc", "inside chroot /usr/local, /bin/x is /usr/local/bin/x")):
    r.expect_kv(key, lambda v: v != "0", why)
r.expect_kv("deep_exists", "1"); r.expect_kv("chrooted_exists", "1")
for key, why in (("deep_outside_rc", "/tmp/x/usr/local/bin/... is not /usr/local/bin"),
                 ("etc_outside_rc", "/tmp/y/etc/... is not /etc"),
                 ("chroot_etc_rc", "inside chroot /tmp/y, /etc/passwd is /tmp/y/etc/passwd"),
                 ("ordinary_rc", "ordinary writes are not refused")):
    r.expect_kv(key, "0", why)
r.expect_kv("chroot_etc_written", "0")
sel = has_all("binChanges")
D62 = "d/" * 62
r.expect_doc("denied alert for the 62-deep executable", alert=True, denied=True,
             **{"file.path": "/usr/local/bin/" + D62 + "tool", "cloud_defend.matched_selectors": sel,
                "container.id": CONTAINER_ID})
r.expect_doc("denied alert for the long names", alert=True, denied=True,
             **{"file.path": "/usr/local/bin/" + "L" * 250 + "/" + "M" * 250 + "/tool"})
r.expect_doc("denied alert for the chrooted write, with its real path", alert=True, denied=True,
             **{"file.path": "/usr/local/bin/chrooted"})
for what in ("/tmp/x/", "/tmp/y/", "/tmp/dd/", "/tmp/work/"):
    r.expect_no_doc("any document under " + what, **{"file.path": lambda p, w=what: p.startswith(w)})
r.finish()
