import os, sys
sys.path[:0] = [os.path.join(os.path.dirname(__file__), "..", "..", "lib"), os.path.join(os.path.dirname(__file__), "..")]
from vmcheck import Run, has_all
from common import CONTAINER_ID

r = Run.from_argv()
r.expect_kv("bare_rc", lambda v: v != "0", "without CAP_BPF and CAP_PERFMON the agent does not start")
r.expect_kv("bare_names_caps", "0", "the refusal names CAP_BPF and CAP_PERFMON")
kernel = os.path.basename(os.path.dirname(r.dir))  # results are <out>/<kernel>/<scenario>
r.expect_kv("min_outcome", "needs_sys_resource" if kernel == "5.10" else "ready",
            "CAP_BPF + CAP_PERFMON alone: ready from 5.11; on 5.10 refused naming CAP_SYS_RESOURCE (RLIMIT_MEMLOCK)")
r.expect_kv("agent_ready", "0")
r.expect_kv("agent_uid", "65534", "the agent runs as an unprivileged user")
r.expect_kv("agent_capeff", "000000c001080004", "holding exactly BPF, PERFMON, SYS_RESOURCE, SYS_PTRACE, DAC_READ_SEARCH")
r.expect_kv("lsm_on", "0", "BPF-LSM attached without uid 0, CAP_SYS_ADMIN or CAP_MAC_ADMIN")
r.expect_kv("exec_blocked_rc", lambda v: v in ("126", "127", "1", "2"), "exec refused")
r.expect_kv("exec_ok_rc", "0", "other executables run")
r.expect_kv("etc_write_rc", lambda v: v != "0", "a new file in /etc is refused")
r.expect_kv("etc_newfile_exists", "1")
r.expect_kv("tmp_write_rc", "0", "writes outside /etc proceed")
r.expect_kv("agent_stop", "0")
r.expect_doc("denied exec alert", alert=True, denied=True,
             **{"event.action": "exec", "process.executable": "/opt/blocked/cat",
                "cloud_defend.matched_selectors": has_all("blockedTool"), "container.id": CONTAINER_ID})
r.expect_doc("denied file alert", alert=True, denied=True, **{"file.path": "/etc/nonroot-newfile"})
r.expect_no_doc("alert for /opt/app/cat", alert=True, **{"process.executable": "/opt/app/cat"})
r.finish()
