import os, sys
sys.path[:0] = [os.path.join(os.path.dirname(__file__), "..", "..", "lib"), os.path.join(os.path.dirname(__file__), "..")]
from vmcheck import Run, has_all
from common import CONTAINER_ID

r = Run.from_argv()
r.expect_kv("agent_ready", "0")
refused = {
    "mv_etc_rc": "mv /etc /etc_old moves the protected tree",
    "mkdir_etc_rc": "a directory is a new name in /etc",
    "mv_dir_in_rc": "a directory of executables renamed into /usr/local/bin",
    "mv_usr_local_rc": "moving /usr/local moves /usr/local/bin",
    "exchange_rc": "RENAME_EXCHANGE: /etc/passwd as the source",
    "exchange_rev_rc": "RENAME_EXCHANGE: /etc/passwd as the target",
    "mv_out_rc": "moving a protected file out of its tree",
    "mv_over_rc": "renaming over /etc/passwd replaces it",
    "link_exe_rc": "a new name for a protected executable",
    "link_plain_rc": "a new name for a file of the tree (chmod +x through it)",
    "link_etc_rc": "a new name for /etc/passwd",
    "symlink_etc_rc": "a symlink is a new name in /etc",
}
for key, why in refused.items():
    r.expect_kv(key, lambda v: v != "0", why)
r.expect_kv("ordinary_rc", "0", "directories, renames, exchanges and links elsewhere are not refused")
for key in ("etc_in_place", "prep_outside", "passwd_unchanged", "hostname_in_place", "no_links", "tool_unchanged"):
    r.expect_kv(key, "0")
r.expect_doc("denied rename of /etc", alert=True, denied=True,
             **{"event.action": "rename", "file.Ext.original.path": "/etc", "file.path": "/etc_old",
                "cloud_defend.matched_selectors": has_all("etcChanges"), "container.id": CONTAINER_ID})
r.expect_doc("denied mkdir in /etc", alert=True, denied=True, **{"file.path": "/etc/newdir"})
r.expect_doc("denied rename of /usr/local (holds /usr/local/bin)", alert=True, denied=True,
             **{"event.action": "rename", "file.Ext.original.path": "/usr/local"})
r.expect_doc("denied rename of a directory into /usr/local/bin", alert=True, denied=True,
             **{"file.path": "/usr/local/bin/prep", "cloud_defend.matched_selectors": has_all("binChanges")})
r.expect_doc("denied exchange with /etc/passwd as the source", alert=True, denied=True,
             **{"event.action": "rename", "file.Ext.original.path": "/etc/passwd", "file.path": "/root/pw"})
r.expect_doc("denied exchange with /etc/passwd as the target", alert=True, denied=True,
             **{"event.action": "rename", "file.path": "/etc/passwd", "file.Ext.original.path": "/root/pw"})
r.expect_doc("denied hard link to the protected executable", alert=True, denied=True,
             **{"event.action": "link", "file.Ext.original.path": "/usr/local/bin/tool", "file.path": "/root/h"})
r.expect_doc("denied hard link to a plain file of the tree", alert=True, denied=True,
             **{"event.action": "link", "file.Ext.original.path": "/usr/local/bin/plain"})
r.expect_no_doc("any document about /tmp/work", **{"file.path": lambda p: p.startswith("/tmp/work/")})
r.finish()
