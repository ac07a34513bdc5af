import os, re, sys
sys.path[:0] = [os.path.join(os.path.dirname(__file__), "..", "..", "lib"), os.path.join(os.path.dirname(__file__), "..")]
from vmcheck import Run, has_all

CLUSTER = "c1a55e00-0000-4000-8000-00000000c1d0"
NODE = "defend-vm"
A = "a1" * 32  # payments-0, prod: app=payments, then app=batch
B = "b2" * 32  # web-0, prod: app=web, then app=payments
C = "c3" * 32  # payments-staging-0, staging: app=payments throughout
POD = {A: ("payments-0", "prod", "aaaaaaaa-1111-4000-8000-00000000000a"),
       B: ("web-0", "prod", "bbbbbbbb-2222-4000-8000-00000000000b"),
       C: ("payments-staging-0", "staging", "cccccccc-3333-4000-8000-00000000000c")}

r = Run.from_argv()
r.expect_kv("api_server_ready", "0"); r.expect_kv("agent_ready", "0"); r.expect_kv("agent_stop", "0", "exit 0 on SIGTERM")
r.check(r._read("agent.rc").strip() == "0", "agent.rc == 0", "agent.rc == %r" % r._read("agent.rc").strip())
r.expect_kv("probe_a_refused", "0", "the pod list reached the kernel within 60 s")
r.expect_kv("decisions_swapped", "0", "the label change reached the kernel within 60 s")


def orchestrator(cid, label):
    name, namespace, uid = POD[cid]
    return {"container.id": cid, "orchestrator.cluster.id": CLUSTER, "orchestrator.cluster.name": "vm-cluster",
            "orchestrator.namespace": namespace, "orchestrator.resource.name": name,
            "orchestrator.resource.type": "pod", "orchestrator.resource.label": label,
            "orchestrator.resource.parent.type": "StatefulSet", "orchestrator.type": "kubernetes"}


def refused(phase, cid, label):
    x = {A: "a", B: "b", C: "c"}[cid]
    path = "/etc/%s-%s" % (phase, x)
    r.expect_kv("%s_%s_rc" % (phase, x), lambda v: v != "0", "refused in the kernel")
    r.expect_kv("%s_%s_exists" % (phase, x), "1", "not created")
    r.expect_doc("denied alert for %s (%s)" % (path, POD[cid][0]), count=1, alert=True, denied=True,
                 **{"event.category": "file", "event.action": "creation", "file.path": path,
                    "cloud_defend.matched_selectors": has_all("paymentsInProd")}, **orchestrator(cid, label))


def allowed(phase, cid, label):
    x = {A: "a", B: "b", C: "c"}[cid]
    path = "/etc/%s-%s" % (phase, x)
    r.expect_kv("%s_%s_rc" % (phase, x), "0", "allowed")
    r.expect_kv("%s_%s_exists" % (phase, x), "0", "created")
    r.expect_no_doc("alert for %s (%s)" % (path, POD[cid][0]), alert=True, **{"file.path": path})
    # Seen, and described from the API server (so no alert because of the labels, not of missing data).
    r.expect_doc("log document for %s (%s)" % (path, POD[cid][0]), count=1, alert=False,
                 **{"event.action": "creation", "file.path": path, "cloud_defend.matched_selectors": ["etcWrites"]},
                 **orchestrator(cid, label))


r.expect_log("Operation not permitted")
# Before the change: only payments-0 (app=payments in prod) is refused; web-0 (other label) and
# payments-staging-0 (other namespace) write.
refused("p1", A, "app:payments"); allowed("p1", B, "app:web"); allowed("p1", C, "app:payments")
# After it: payments-0 (now app=batch) writes, web-0 (now app=payments) is refused.
allowed("p2", A, "app:batch"); refused("p2", B, "app:payments"); allowed("p2", C, "app:payments")
r.expect_no_doc("document from the selector of another cluster",
                **{"cloud_defend.matched_selectors": lambda v: "webInAnotherCluster" in v})
r.expect_no_doc("alert outside the three pods' containers", alert=True,
                **{"container.id": lambda v: v not in POD})

# What the agent asked the API server (tools/vm/k8s-fake-api's request log) and how it ended.
requests = r._read("requests.log")
lines = requests.splitlines()


def request(desc, path, **params):
    want = [" %s=%s" % (k, v) for k, v in params.items()]
    ok = any((" GET %s " % path) in l and all(w in l for w in want) for l in lines)
    r.check(ok, "request: %s (GET %s with %s)" % (desc, path, params), "requests.log:\n    " + "\n    ".join(lines[:30]))


selector = "spec.nodeName=" + NODE
request("first pods page", "/api/v1/pods", limit="500", fieldSelector=selector)
request("second pods page", "/api/v1/pods", limit="500", fieldSelector=selector, **{"continue": "page2"})
request("pods watch from the list's version", "/api/v1/pods", watch="1", resourceVersion="200",
        allowWatchBookmarks="true", fieldSelector=selector)
request("namespaces list", "/api/v1/namespaces", limit="500")
request("namespaces watch", "/api/v1/namespaces", watch="1", resourceVersion="200", allowWatchBookmarks="true")
r.check(not any(re.search(r"-> [45]\d\d", l) for l in lines), "no request refused by the API server",
        "\n".join(l for l in lines if re.search(r"-> [45]\d\d", l)))
r.check(any("sent pods rv=203" in l for l in lines), "the MODIFIED events were streamed", requests[-800:])
stopping = [l for l in r._read("agent.log").splitlines() if "stopping:" in l]
last = stopping[-1] if stopping else ""
for want in (" pods=3 ", " k8s_lists=1 ", " k8s_relists_410=0 ", " k8s_failures=0 "):
    r.check(want in last + " ", "agent's stopping line has%s(one list, changes by the watch)" % want, last or "no stopping line")

# Timings (printed, not asserted).
sent = [float(m.group(1)) for l in lines for m in [re.match(r"T=([\d.]+) \d+ sent pods rv=203", l)] if m]
change = r.kv.get("label_change_uptime")
print("k8s-label-block: agent ready -> pods in the kernel %ss (%s probes); label change -> next decision %ss "
      "(%s probes; event streamed %s s after the append)" % (
          r.kv.get("pods_to_kernel_s"), r.kv.get("probes_before_block"), r.kv.get("label_to_decision_s"),
          r.kv.get("probes_before_swap"),
          "%.2f" % (sent[0] - float(change)) if sent and change else "?"))
r.finish()
