import os, sys
sys.path[:0] = [os.path.join(os.path.dirname(__file__), "..", "..", "lib"), os.path.join(os.path.dirname(__file__), "..")]
from vmcheck import Run, has_all

HEX = "5eed00000000000000000000000000000000000000000000000000000000"
refused = lambda v: v in ("126", "127", "1", "2")
r = Run.from_argv()
r.expect_kv("agent_found", "1", "the agent was stopped while the containers started")
for key, why in [("docker_rc", "docker-<id>.scope"), ("containerd_rc", "cri-containerd-<id>.scope"),
                 ("crio_rc", "crio-<id>.scope"), ("podman_rc", "libpod-<id>.scope"), ("docker_fs_rc", "/docker/<id>")]:
    r.expect_kv(key, refused, "the first exec in a fresh " + why + " was refused although the agent could not react")
for key, why in [("short_id_rc", "a 63-digit id"), ("upper_hex_rc", "upper-case hex"), ("conmon_rc", "crio-conmon-"),
                 ("other_rc", "another prefix"), ("bare_id_rc", "a bare id not under docker"), ("host_rc", "the host")]:
    r.expect_kv(key, "0", why + " is not a container (scope containers): the exec runs")
for suffix in ["0001", "0002", "0003", "0004", "0005"]:
    r.expect_doc("denied exec alert from container " + suffix, alert=True, denied=True,
                 **{"event.category": "process", "process.executable": "/opt/app/uname",
                    "cloud_defend.matched_selectors": has_all("noUname"), "container.id": HEX + suffix})
# (the agent may describe some look-alikes later, by its own wider rules: they are not refused at their first exec)
r.expect_no_doc("a refusal in a look-alike cgroup", alert=True, denied=True,
                **{"container.id": lambda c: c is not None and not any(c == HEX + s for s in ["0001", "0002", "0003", "0004", "0005"])})
r.finish()
