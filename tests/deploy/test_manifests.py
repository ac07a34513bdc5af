"""Checks of deploy/: the manifests against the Kubernetes OpenAPI schemas (offline, kubernetes-validate ships
them) and against the agent itself (its flags, port, paths and the default policy). Run by tests/deploy/run."""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import kubernetes_validate
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MANIFEST = os.path.join(ROOT, "deploy", "kubernetes", "defend.yaml")
# Oldest Kubernetes release still supported upstream when this was written, and the newest the validator knows.
KUBERNETES_VERSIONS = ["1.31.0", kubernetes_validate.latest_version()]


def defend_binary():
    path = os.environ.get("DEFEND_BIN") or os.path.join(ROOT, ".build", "debug", "defend")
    if not os.access(path, os.X_OK):
        raise AssertionError(f"no defend binary at {path} (build first, or set DEFEND_BIN)")
    return path


def read(*parts):
    with open(os.path.join(ROOT, *parts)) as f:
        return f.read()


def documents():
    with open(MANIFEST) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def one(kind, name=None):
    found = [d for d in documents() if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    if len(found) != 1:
        raise AssertionError(f"expected one {kind} {name or ''} in {MANIFEST}, found {len(found)}")
    return found[0]


def config_map():
    return one("ConfigMap", "defend-config")


def agent_config():
    """The configuration file the DaemonSet's `defend run --config` reads."""
    return yaml.safe_load(config_map()["data"]["defend.yaml"])


def agent_container():
    spec = one("DaemonSet")["spec"]["template"]["spec"]
    return spec, next(c for c in spec["containers"] if c["name"] == "defend")


def run_options(args):
    """--flag value pairs of the container's args (after `run`); flags without a value map to True."""
    assert args[0] == "run", f"the container must run `defend run`, not {args[0]}"
    options, i = {}, 1
    while i < len(args):
        flag = args[i]
        assert flag.startswith("--"), f"unexpected argument {flag!r} in the DaemonSet args"
        if i + 1 < len(args) and not args[i + 1].startswith("--"):
            options.setdefault(flag, []).append(args[i + 1])
            i += 2
        else:
            options.setdefault(flag, []).append(True)
            i += 1
    return options


def mounted(container, path):
    """The volumeMount whose mountPath contains `path`, or None."""
    best = None
    for m in container.get("volumeMounts", []):
        mp = m["mountPath"].rstrip("/")
        if path == mp or path.startswith(mp + "/"):
            if best is None or len(mp) > len(best["mountPath"]):
                best = m
    return best


class SchemaTests(unittest.TestCase):
    def test_every_document_validates_strictly(self):
        docs = documents()
        self.assertGreaterEqual(len(docs), 6)
        for version in KUBERNETES_VERSIONS:
            for doc in docs:
                with self.subTest(version=version, kind=doc["kind"], name=doc["metadata"]["name"]):
                    kubernetes_validate.validate(doc, version, strict=True)

    def test_the_validator_catches_a_broken_manifest(self):
        # The check above must be able to fail: a misspelled field and a wrong type are rejected.
        ds = one("DaemonSet")
        container = ds["spec"]["template"]["spec"]["containers"][0]
        container["volumeMount"] = container.pop("volumeMounts")
        with self.assertRaises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(ds, KUBERNETES_VERSIONS[0], strict=True)
        ds = one("DaemonSet")
        ds["spec"]["template"]["spec"]["hostPID"] = "yes"
        with self.assertRaises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(ds, KUBERNETES_VERSIONS[0], strict=True)


class AgentConsistencyTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.help = subprocess.run([defend_binary(), "run", "--help"], capture_output=True, text=True, check=True).stdout
        cls.spec, cls.container = agent_container()
        cls.options = run_options(cls.container["args"])

    def test_every_flag_is_one_defend_run_accepts(self):
        known = set(re.findall(r"(--[a-z0-9-]+)", self.help))
        for flag in self.options:
            self.assertIn(flag, known, f"{flag} is not an option of `defend run`")

    def test_the_agent_reads_the_configuration_file(self):
        self.assertEqual(list(self.options), ["--config"], "settings belong in the ConfigMap's defend.yaml")
        config = self.options["--config"][0]
        m = mounted(self.container, config)
        self.assertIsNotNone(m, f"--config {config} is not on a volume")
        volume = next(v for v in self.spec["volumes"] if v["name"] == m["name"])
        self.assertEqual(volume["configMap"]["name"], "defend-config")
        self.assertIn(os.path.relpath(config, m["mountPath"]), config_map()["data"])

    def test_probes_and_port_match_the_metrics_address(self):
        address = agent_config()["metrics"]["address"]
        port = int(address.rsplit(":", 1)[1])
        ports = {p["name"]: p["containerPort"] for p in self.container["ports"]}
        self.assertEqual(ports["metrics"], port)
        self.assertEqual(self.container["livenessProbe"]["httpGet"]["path"], "/healthz")
        self.assertEqual(self.container["readinessProbe"]["httpGet"]["path"], "/readyz")
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            self.assertIn(self.container[probe]["httpGet"]["port"], ("metrics", port), probe)
        annotations = one("DaemonSet")["spec"]["template"]["metadata"]["annotations"]
        self.assertEqual(annotations["prometheus.io/port"], str(port))
        # With hostNetwork the node's address is the pod's: the agent must listen beyond loopback.
        self.assertFalse(address.startswith("127."), "kubelet probes the pod IP, not loopback")

    def test_paths_the_agent_uses_are_mounted(self):
        c = self.container
        config = agent_config()
        config_dir = os.path.dirname(self.options["--config"][0])
        policy = os.path.join(config_dir, config["policy"])
        m = mounted(c, policy)
        self.assertIsNotNone(m, f"policy {policy} is not on a volume")
        self.assertIn(os.path.relpath(policy, m["mountPath"]), config_map()["data"])

        for key, path in (("state_dir", config["state_dir"]), ("queue.path", config["queue"]["path"])):
            m = mounted(c, path)
            self.assertIsNotNone(m, f"{key} {path} is not mounted")
            self.assertFalse(m.get("readOnly", False), f"{key} must be writable")
            volume = next(v for v in self.spec["volumes"] if v["name"] == m["name"])
            self.assertIn("hostPath", volume, f"{key} must outlive the pod (agent id, undelivered documents)")

        socket_dir = os.path.dirname(config["status"]["socket"])
        m = mounted(c, socket_dir)
        self.assertIsNotNone(m, "the status socket's directory must be a volume (the root filesystem is read-only)")
        volume = next(v for v in self.spec["volumes"] if v["name"] == m["name"])
        # The agent refuses a directory others can write to; an emptyDir is 0777.
        self.assertNotIn("emptyDir", volume, "an emptyDir is world-writable: the agent refuses it for its socket")

        for d in config.get("containerd", {}).get("state_dirs", []):
            self.assertIsNotNone(mounted(c, d), f"containerd.state_dirs {d} is not mounted")

    def test_every_variable_of_the_configuration_is_set_in_the_pod(self):
        names = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", config_map()["data"]["defend.yaml"]))
        env = {e["name"] for e in self.container["env"]}
        self.assertTrue(names)
        self.assertEqual(names - env, set(), "variables of defend.yaml the DaemonSet does not set")

    def test_host_mounts_the_sensor_and_enrichment_need(self):
        for path in ["/sys/fs/bpf", "/sys/kernel/security", "/sys/kernel/debug", "/sys/kernel/tracing", "/sys/fs/cgroup",
                     "/run/containerd", "/var/lib/containerd", "/run/crio", "/var/lib/containers", "/run/docker",
                     "/var/lib/docker", "/etc/machine-id", "/etc/os-release"]:
            with self.subTest(path=path):
                m = mounted(self.container, path)
                self.assertIsNotNone(m, f"{path} is not mounted")
                volume = next(v for v in self.spec["volumes"] if v["name"] == m["name"])
                self.assertEqual(volume["hostPath"]["path"], path)

    def test_host_identity_and_node_name(self):
        # HostCollector reads uname (node name) and getifaddrs (host.ip): the node's only with hostNetwork;
        # the /proc scan sees the node's processes only with hostPID.
        self.assertTrue(self.spec["hostPID"])
        self.assertTrue(self.spec["hostNetwork"])
        self.assertEqual(self.spec["dnsPolicy"], "ClusterFirstWithHostNet")
        env = {e["name"]: e for e in self.container["env"]}
        self.assertEqual(env["NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"], "spec.nodeName")
        collector = read("Sources", "DefendEnrich", "Host", "HostCollector.swift")
        self.assertIn('etcRoot + "/machine-id"', collector, "HostCollector's source of host.id changed: update the mounts")

    def test_capabilities_instead_of_privileged(self):
        sc = self.container["securityContext"]
        self.assertFalse(sc.get("privileged", False))
        self.assertEqual(sc["capabilities"]["drop"], ["ALL"])
        self.assertEqual(set(sc["capabilities"]["add"]),
                         {"BPF", "PERFMON", "SYS_ADMIN", "SYS_RESOURCE", "SYS_PTRACE", "DAC_READ_SEARCH"})
        self.assertEqual(sc["runAsUser"], 0, "the sensor checks for uid 0")

    def test_resources_have_requests_and_a_memory_limit(self):
        r = self.container["resources"]
        self.assertIn("cpu", r["requests"])
        self.assertIn("memory", r["requests"])
        self.assertIn("memory", r["limits"])
        self.assertNotIn("cpu", r["limits"], "a CPU limit throttles the ring-buffer reader: records are lost")

    def test_rbac_is_read_only_on_pods_and_namespaces(self):
        rules = one("ClusterRole", "defend")["rules"]
        self.assertEqual(rules, [{"apiGroups": [""], "resources": ["pods", "namespaces"], "verbs": ["get", "list", "watch"]}])
        binding = one("ClusterRoleBinding", "defend")
        self.assertEqual(binding["subjects"][0]["name"], self.spec["serviceAccountName"])


class ConfigMapTests(unittest.TestCase):
    def test_configmap_policy_is_policies_default_yaml(self):
        default = read("policies", "default.yaml")
        self.assertEqual(config_map()["data"]["policy.yaml"], default,
                         "deploy/kubernetes/defend.yaml's policy.yaml drifted from policies/default.yaml: copy it again")

    def run_defend_on_the_configmap(self, *args):
        """Writes the ConfigMap's files as the pod sees them and runs `defend ARGS FILE`."""
        d = tempfile.mkdtemp(prefix="defend-configmap-")
        try:
            for name, text in config_map()["data"].items():
                with open(os.path.join(d, name), "w") as f:
                    f.write(text)
            env = dict(os.environ, CLUSTER_NAME="test-cluster", ELASTICSEARCH_HOSTS="https://es.example:9200",
                       ELASTICSEARCH_API_KEY="id:secret-value", NODE_NAME="node-1")
            return subprocess.run([defend_binary(), *args], capture_output=True, text=True, env=env, cwd=d)
        finally:
            shutil.rmtree(d)

    def test_configmap_policy_validates(self):
        out = self.run_defend_on_the_configmap("policy", "validate", "policy.yaml")
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)

    def test_configmap_configuration_file_validates(self):
        out = self.run_defend_on_the_configmap("config", "validate", "defend.yaml")
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertNotIn("secret-value", out.stdout + out.stderr)

    def test_the_configuration_check_can_fail(self):
        broken = config_map()["data"]["defend.yaml"].replace("scope: containers", "scope: everywhere")
        d = tempfile.mkdtemp(prefix="defend-configmap-broken-")
        try:
            with open(os.path.join(d, "defend.yaml"), "w") as f:
                f.write(broken)
            out = subprocess.run([defend_binary(), "config", "validate", os.path.join(d, "defend.yaml")],
                                 capture_output=True, text=True,
                                 env=dict(os.environ, CLUSTER_NAME="c", ELASTICSEARCH_HOSTS="https://e:9200",
                                          ELASTICSEARCH_API_KEY="a:b"))
            self.assertNotEqual(out.returncode, 0, "a wrong scope must not validate")
        finally:
            shutil.rmtree(d)


class ContainerfileTests(unittest.TestCase):
    def test_containerfile_builds_the_static_binary_and_dockerignore_excludes_build_output(self):
        containerfile = read("deploy", "Containerfile")
        self.assertIn("-static-executable", containerfile)
        self.assertIn("--product defend", containerfile)
        image = agent_container()[1]["image"]
        self.assertIn(image, containerfile, "the Containerfile's example tag names the DaemonSet's image")
        ignored = read(".dockerignore").split()
        for entry in (".build", ".build-*", "vm-out", ".git"):
            self.assertIn(entry, ignored)


if __name__ == "__main__":
    unittest.main()
