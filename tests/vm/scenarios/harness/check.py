import os, sys
sys.path[:0] = [os.path.join(os.path.dirname(__file__), "..", "..", "lib"), os.path.join(os.path.dirname(__file__), "..")]
from vmcheck import Run
from common import CONTAINER_ID, POD_UID

r = Run.from_argv()
r.expect_script_rc("3")
r.expect_kv("lsm", lambda v: "bpf" in v.split(","), "BPF LSM active in the guest kernel")
for key in ("bpffs", "cgroup2", "tracefs", "loopback", "agent_running", "forker_rc"):
    r.expect_kv(key, "0")
r.expect_kv("fork_ok", "2")
r.expect_kv("exit_rc", "7")
r.expect_kv("cgroup", "/kubepods/besteffort/pod%s/%s" % (POD_UID, CONTAINER_ID))
r.expect_kv("ctty", lambda v: v.startswith("/dev/pts/"))
r.expect_kv("notty", "1")
agent_rc = open(os.path.join(r.dir, "agent.rc")).read().strip() if os.path.exists(os.path.join(r.dir, "agent.rc")) else ""
r.check(agent_rc == "0", "agent exited 0 after SIGTERM", "agent.rc=%r" % agent_rc)
r.finish()
