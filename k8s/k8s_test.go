package k8s_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"edgecdn/internal/cluster"
	"edgecdn/internal/testenv"
	"edgecdn/player-sim/emucmd"
)

const (
	namespace = "edgecdn"
	nonRoot   = 65532
	gossipSvc = "gossip"
)

var zones = []string{"zone-a", "zone-b", "zone-c"}

// The kustomizations under test: the base and the kind overlay.
var kustomizations = []string{"base", "overlays/kind"}

func TestStrictDecodingRefusesTypos(t *testing.T) {
	good := "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\nspec:\n  replicas: 2\n"
	if _, err := decodeStrict([]byte(good)); err != nil {
		t.Fatalf("a valid Deployment was refused: %v", err)
	}
	for _, bad := range []string{
		strings.Replace(good, "replicas:", "replica:", 1),
		good + "  replicas: 3\n",
		strings.Replace(good, "kind: Deployment", "kind: Deploymnet", 1),
		"apiVersion: v1\nkind: Service\nmetadata:\n  name: x\nspec:\n  publishNotReadyAddress: true\n",
	} {
		if _, err := decodeStrict([]byte(bad)); err == nil {
			t.Errorf("accepted:\n%s", bad)
		}
	}
}

// TestManifests renders each kustomization and checks every object in it.
func TestManifests(t *testing.T) {
	for _, dir := range kustomizations {
		t.Run(strings.ReplaceAll(dir, "/", "-"), func(t *testing.T) {
			m := parseManifests(t, kustomize(t, dir))
			procs := m.processes(t)
			t.Run("namespace", func(t *testing.T) { checkNamespace(t, m) })
			t.Run("selectors", func(t *testing.T) { checkSelectors(t, m) })
			t.Run("services", func(t *testing.T) { checkServices(t, m) })
			t.Run("commands", func(t *testing.T) { checkCommands(t, m, procs) })
			t.Run("probes", func(t *testing.T) { checkProbes(t, m, procs) })
			t.Run("zones", func(t *testing.T) { checkZones(t, m, procs) })
			t.Run("gossip", func(t *testing.T) { checkGossip(t, m, procs) })
			t.Run("security", func(t *testing.T) { checkSecurity(t, m) })
			t.Run("resources", func(t *testing.T) { checkResources(t, m) })
			t.Run("disruption-budgets", func(t *testing.T) { checkPDBs(t, m) })
			t.Run("prometheus", func(t *testing.T) { checkPrometheus(t, m, procs) })
			t.Run("admin", func(t *testing.T) { checkAdmin(t, m, procs) })
			t.Run("termination", func(t *testing.T) { checkTermination(t, procs) })
			t.Run("volumes", func(t *testing.T) { checkVolumes(t, m, procs) })
			t.Run("player-sim", func(t *testing.T) { checkPlayerSim(t, m, procs) })
		})
	}
}

// proc is one container of a workload and its parsed command line.
type proc struct {
	w    *workload
	c    *corev1.Container
	p    *process
	init bool
}

func (p proc) String() string { return p.w.String() + " container " + p.c.Name }

// processes parses every container's command line with the binary's real flag parser.
func (m *manifests) processes(t *testing.T) []proc {
	t.Helper()
	var out []proc
	for _, w := range m.workloads {
		for i, c := range allContainers(w.tpl) {
			pr := proc{w: w, c: c, init: i < len(w.tpl.Spec.InitContainers)}
			switch {
			case len(c.Command) == 0:
				p, err := parseEdgecdn(m, c)
				if err != nil {
					t.Errorf("%s: %v", pr, err)
					continue
				}
				pr.p = p
			case slices.Equal(c.Command, []string{"/player-sim"}):
				p, err := parsePlayerSim(c)
				if err != nil {
					t.Errorf("%s: %v", pr, err)
					continue
				}
				pr.p = p
			default:
				t.Errorf("%s: command %q is neither the image's entrypoint (/edgecdn) nor /player-sim", pr, c.Command)
				continue
			}
			out = append(out, pr)
		}
	}
	return out
}

var longFlag = regexp.MustCompile(`^--([a-z][a-z0-9-]*)=(.*)$`)

// parsePlayerSim checks a /player-sim command line with player-sim's own parser: with --help
// appended, it answers ErrHelp only if every flag before it parsed.
func parsePlayerSim(c *corev1.Container) (*process, error) {
	for _, e := range c.Env {
		if strings.HasPrefix(e.Name, "EDGECDN_") {
			return nil, errors.New("player-sim takes no EDGECDN_ environment variable")
		}
	}
	err := emucmd.Run(append(slices.Clone(c.Args), "--help"), io.Discard, io.Discard)
	if !errors.Is(err, emucmd.ErrHelp) {
		return nil, err
	}
	p := &process{binary: "player-sim", given: map[string]bool{}}
	p.values = map[string]string{}
	for _, a := range c.Args {
		sm := longFlag.FindStringSubmatch(a)
		if sm == nil {
			return nil, errors.New("write player-sim's args as --flag=value: " + a)
		}
		p.given[sm[1]] = true
		p.values[sm[1]] = sm[2]
	}
	n := 0
	for _, f := range []string{"dns", "steering", "url"} {
		if p.given[f] {
			n++
		}
	}
	if n != 1 {
		return nil, errors.New("give exactly one of --dns, --steering and --url")
	}
	return p, nil
}

func checkNamespace(t *testing.T, m *manifests) {
	if len(m.namespaces) != 1 || m.namespaces[0].Name != namespace {
		t.Fatalf("want exactly the Namespace %q, have %d", namespace, len(m.namespaces))
	}
	if got := m.namespaces[0].Labels["pod-security.kubernetes.io/enforce"]; got != "restricted" {
		t.Errorf("namespace enforces Pod Security %q, want restricted", got)
	}
	check := func(kind, name, ns string) {
		if ns != namespace {
			t.Errorf("%s/%s is in namespace %q, want %q", kind, name, ns, namespace)
		}
	}
	for _, o := range m.services {
		check("Service", o.Name, o.Namespace)
	}
	for _, o := range m.deployments {
		check("Deployment", o.Name, o.Namespace)
	}
	for _, o := range m.statefuls {
		check("StatefulSet", o.Name, o.Namespace)
	}
	for _, o := range m.jobs {
		check("Job", o.Name, o.Namespace)
	}
	for _, o := range m.pdbs {
		check("PodDisruptionBudget", o.Name, o.Namespace)
	}
	for _, o := range m.secrets {
		check("Secret", o.Name, o.Namespace)
	}
	for _, o := range m.configMaps {
		check("ConfigMap", o.Name, o.Namespace)
	}
}

// checkSelectors: every workload's selector selects its own pod template, and no other's.
func checkSelectors(t *testing.T, m *manifests) {
	for _, w := range m.workloads {
		if w.selector == nil {
			if w.kind != "Job" {
				t.Errorf("%s has no selector", w)
			}
			continue
		}
		if !selects(t, w.selector, w.tpl.Labels) {
			t.Errorf("%s: selector %v does not match its pod labels %v", w, w.selector.MatchLabels, w.tpl.Labels)
		}
		for _, o := range m.workloads {
			if o != w && selects(t, w.selector, o.tpl.Labels) {
				t.Errorf("%s: selector also matches the pods of %s", w, o)
			}
		}
	}
	for _, s := range m.statefuls {
		svc := m.service(s.Spec.ServiceName)
		if svc == nil || svc.Spec.ClusterIP != corev1.ClusterIPNone {
			t.Errorf("StatefulSet/%s: serviceName %q is not a headless Service", s.Name, s.Spec.ServiceName)
		}
	}
}

// checkServices: every Service selects some pods, and each of its target ports is a declared
// container port (by name or number, same protocol) of every pod it selects.
func checkServices(t *testing.T, m *manifests) {
	for _, svc := range m.services {
		ws := m.serviceSelects(svc)
		if len(ws) == 0 {
			t.Errorf("Service/%s: selector %v matches no pod template", svc.Name, svc.Spec.Selector)
			continue
		}
		for _, sp := range svc.Spec.Ports {
			target := sp.TargetPort
			if target.Type == intstr.Int && target.IntVal == 0 {
				target = intstr.FromInt32(sp.Port)
			}
			for _, w := range ws {
				found := false
				for i := range w.tpl.Spec.Containers {
					if _, ok := containerPort(&w.tpl.Spec.Containers[i], target, sp.Protocol); ok {
						found = true
					}
				}
				if !found {
					t.Errorf("Service/%s port %s (%d/%s): target port %s is no container port of %s", svc.Name, sp.Name, sp.Port, sp.Protocol, target.String(), w)
				}
			}
		}
	}
}

// checkCommands: every container runs one of the image's binaries with flags that binary
// accepts (already parsed), every $(VAR) is a variable of the container, the declared container
// ports are exactly those the process listens on, and every address a process dials names a
// Service of this kustomization that has that port.
func checkCommands(t *testing.T, m *manifests, procs []proc) {
	for _, pr := range procs {
		defined := map[string]bool{}
		for _, e := range pr.c.Env {
			for _, ref := range varRef.FindAllStringSubmatch(e.Value, -1) {
				if !defined[ref[1]] {
					t.Errorf("%s: env %s refers to $(%s), not defined before it", pr, e.Name, ref[1])
				}
			}
			defined[e.Name] = true
		}
		for _, a := range pr.c.Args {
			for _, ref := range varRef.FindAllStringSubmatch(a, -1) {
				if !defined[ref[1]] {
					t.Errorf("%s: argument %q refers to $(%s), not in its env", pr, a, ref[1])
				}
			}
		}
		if pr.p.binary != "edgecdn" {
			continue
		}
		// Declared ports are what the process binds.
		listened := pr.p.listened(t)
		declared := map[portKey]bool{}
		for _, cp := range pr.c.Ports {
			proto := cp.Protocol
			if proto == "" {
				proto = corev1.ProtocolTCP
			}
			k := portKey{cp.ContainerPort, proto}
			declared[k] = true
			if _, ok := listened[k]; !ok {
				t.Errorf("%s: declares port %s (%s), which edgecdn %s does not listen on", pr, k, cp.Name, pr.p.sub)
			}
		}
		for k, f := range listened {
			if !declared[k] {
				t.Errorf("%s: listens on %s (--%s) but declares no such container port", pr, k, f)
			}
		}
		// Advertised addresses carry the listened ports.
		if v := pr.p.flag("advertise-http"); v != "" {
			if _, n := hostPort(t, "--advertise-http", v); n != pr.p.httpPort(t) {
				t.Errorf("%s: --advertise-http %s, but HTTP listens on %d", pr, v, pr.p.httpPort(t))
			}
		}
		if v := pr.p.flag("gossip-advertise"); v != "" {
			_, g := hostPort(t, "--gossip-listen", pr.p.flag("gossip-listen"))
			if _, n := hostPort(t, "--gossip-advertise", v); n != g {
				t.Errorf("%s: --gossip-advertise %s, but gossip listens on %d", pr, v, g)
			}
		}
		// Dialled addresses are Services.
		if v := pr.p.flag("join"); pr.p.fs.Lookup("join") != nil && pr.p.flag("standalone") != "true" {
			if v == "" {
				t.Errorf("%s: a gossip member without --join", pr)
			}
			for _, j := range strings.Split(v, ",") {
				h, n := hostPort(t, "--join", j)
				m.checkServicePort(t, pr.String()+" --join", h, n, corev1.ProtocolTCP, corev1.ProtocolUDP)
			}
		}
		if pr.p.sub == "edge" || pr.p.sub == "steering" {
			for _, u := range strings.Split(pr.p.flag("origin"), ",") {
				m.checkServiceURL(t, pr.String()+" --origin", u)
			}
		}
	}
}

// serviceName maps a host name to the Service it names in the namespace ("" if none).
func serviceName(host string) string {
	for _, suffix := range []string{"." + namespace + ".svc.cluster.local", "." + namespace + ".svc", "." + namespace, ""} {
		if name, ok := strings.CutSuffix(host, suffix); ok && !strings.Contains(name, ".") {
			return name
		}
	}
	return ""
}

func (m *manifests) checkServicePort(t *testing.T, what, host string, port int, protos ...corev1.Protocol) {
	t.Helper()
	svc := m.service(serviceName(host))
	if svc == nil {
		t.Errorf("%s: %q is no Service of namespace %s", what, host, namespace)
		return
	}
	for _, proto := range protos {
		found := false
		for _, sp := range svc.Spec.Ports {
			if int(sp.Port) == port && (sp.Protocol == proto || (sp.Protocol == "" && proto == corev1.ProtocolTCP)) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: Service/%s has no port %d/%s", what, svc.Name, port, proto)
		}
	}
}

func (m *manifests) checkServiceURL(t *testing.T, what, raw string) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.Port() == "" {
		t.Errorf("%s: %q: want http://SERVICE:PORT", what, raw)
		return
	}
	_, n := hostPort(t, what, u.Host)
	m.checkServicePort(t, what, u.Hostname(), n, corev1.ProtocolTCP)
}

// checkProbes: every server has a readiness probe on /readyz and a liveness probe on /healthz,
// on a declared port that is the port its HTTP server listens on; no probe goes elsewhere.
func checkProbes(t *testing.T, m *manifests, procs []proc) {
	for _, pr := range procs {
		probes := map[string]*corev1.Probe{"readiness": pr.c.ReadinessProbe, "liveness": pr.c.LivenessProbe, "startup": pr.c.StartupProbe}
		if !pr.w.longRunning || pr.init {
			for kind, p := range probes {
				if p != nil {
					t.Errorf("%s: a %s probe on a container that exits", pr, kind)
				}
			}
			continue
		}
		want := map[string]string{"readiness": "/readyz", "liveness": "/healthz", "startup": "/healthz"}
		for _, kind := range sortedKeys(probes) {
			p := probes[kind]
			if p == nil {
				if kind != "startup" {
					t.Errorf("%s: no %s probe", pr, kind)
				}
				continue
			}
			if p.HTTPGet == nil {
				t.Errorf("%s: %s probe is not an HTTP GET", pr, kind)
				continue
			}
			if p.HTTPGet.Path != want[kind] {
				t.Errorf("%s: %s probe path %q, want %s", pr, kind, p.HTTPGet.Path, want[kind])
			}
			cp, ok := containerPort(pr.c, p.HTTPGet.Port, corev1.ProtocolTCP)
			if !ok {
				t.Errorf("%s: %s probe port %s is not a declared container port", pr, kind, p.HTTPGet.Port.String())
				continue
			}
			if pr.p.binary == "edgecdn" && int(cp.ContainerPort) != pr.p.httpPort(t) {
				t.Errorf("%s: %s probe on port %d, but edgecdn %s serves HTTP on %d", pr, kind, cp.ContainerPort, pr.p.sub, pr.p.httpPort(t))
			}
			// The kubelet's default timeout is 1 s: a busy or joining member would fail it.
			if p.TimeoutSeconds < 2 {
				t.Errorf("%s: %s probe timeoutSeconds %d, want 2 or more, set explicitly", pr, kind, p.TimeoutSeconds)
			}
		}
		// A slow start (a long join) must never trip the liveness probe: a startup probe holds
		// liveness off for a minute or more, and liveness itself allows 20 s or more.
		if s, l := pr.c.StartupProbe, pr.c.LivenessProbe; s != nil && l != nil {
			if got := s.PeriodSeconds * s.FailureThreshold; got < 60 {
				t.Errorf("%s: startup probe allows %d s, want 60 or more", pr, got)
			}
			if got := l.PeriodSeconds * l.FailureThreshold; got < 20 {
				t.Errorf("%s: liveness probe allows %d s of failures, want 20 or more", pr, got)
			}
		} else if l != nil {
			t.Errorf("%s: no startup probe", pr)
		}
	}
}

// nodeZones returns the zones a pod template is pinned to by a required node affinity.
func nodeZones(w *workload) []string {
	a := w.tpl.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return nil
	}
	var zs []string
	for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		for _, e := range term.MatchExpressions {
			if e.Key == "topology.kubernetes.io/zone" && e.Operator == corev1.NodeSelectorOpIn {
				zs = append(zs, e.Values...)
			}
		}
	}
	return zs
}

// checkZones: each zone has a StatefulSet of at least two edges and a balancer Deployment with
// a Service, both pinned to the zone's nodes and told their zone; no edge or balancer is
// anywhere else.
func checkZones(t *testing.T, m *manifests, procs []proc) {
	type zoneInfo struct{ edges, lbs []proc }
	byZone := map[string]*zoneInfo{}
	for _, z := range zones {
		byZone[z] = &zoneInfo{}
	}
	for _, pr := range procs {
		if pr.p.sub != "edge" && pr.p.sub != "lb" {
			continue
		}
		z := pr.p.flag("zone")
		zi, ok := byZone[z]
		if !ok {
			t.Errorf("%s: --zone %q is none of %v", pr, z, zones)
			continue
		}
		if got := nodeZones(pr.w); !slices.Equal(got, []string{z}) {
			t.Errorf("%s: --zone %s but pinned by node affinity to %v", pr, z, got)
		}
		if got := pr.w.tpl.Labels["edgecdn/zone"]; got != z {
			t.Errorf("%s: --zone %s but pod label edgecdn/zone=%q", pr, z, got)
		}
		if pr.p.sub == "edge" {
			if pr.w.kind != "StatefulSet" {
				t.Errorf("%s: edges run as a StatefulSet", pr)
			}
			zi.edges = append(zi.edges, pr)
		} else {
			if pr.w.kind != "Deployment" {
				t.Errorf("%s: balancers run as a Deployment", pr)
			}
			zi.lbs = append(zi.lbs, pr)
		}
	}
	for _, z := range zones {
		zi := byZone[z]
		if len(zi.edges) != 1 || zi.edges[0].w.replicas < 2 {
			t.Errorf("zone %s: want one edge StatefulSet of at least 2 replicas, have %d", z, len(zi.edges))
		}
		if len(zi.lbs) != 1 {
			t.Errorf("zone %s: want one balancer Deployment, have %d", z, len(zi.lbs))
			continue
		}
		served := false
		for _, svc := range m.services {
			for _, w := range m.serviceSelects(svc) {
				if w == zi.lbs[0].w {
					served = true
				}
			}
		}
		if !served {
			t.Errorf("zone %s: no Service selects the balancer %s", z, zi.lbs[0].w)
		}
	}
}

// checkGossip: the gossip Service is headless, publishes not-ready pods, has 7946 TCP and UDP;
// every gossip member joins it, is selected by it, and has the gossip key from the Secret.
func checkGossip(t *testing.T, m *manifests, procs []proc) {
	svc := m.service(gossipSvc)
	if svc == nil {
		t.Fatalf("no Service %q", gossipSvc)
	}
	if svc.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("Service/%s: clusterIP %q, want None (headless)", svc.Name, svc.Spec.ClusterIP)
	}
	if !svc.Spec.PublishNotReadyAddresses {
		t.Errorf("Service/%s: publishNotReadyAddresses is false", svc.Name)
	}
	m.checkServicePort(t, "gossip Service", gossipSvc, 7946, corev1.ProtocolTCP, corev1.ProtocolUDP)
	secret := gossipSecret(t, m)
	members := 0
	for _, pr := range procs {
		if pr.p.fs == nil || pr.p.fs.Lookup("join") == nil {
			continue
		}
		members++
		for _, j := range strings.Split(pr.p.flag("join"), ",") {
			if h, _ := hostPort(t, "--join", j); serviceName(h) != gossipSvc {
				t.Errorf("%s: joins %q, not the gossip Service", pr, h)
			}
		}
		if !slices.Contains(m.serviceSelects(svc), pr.w) {
			t.Errorf("%s: a gossip member that the gossip Service does not select", pr)
		}
		var keyRef *corev1.SecretKeySelector
		for _, e := range pr.c.Env {
			if e.Name == "EDGECDN_GOSSIP_KEY" && e.ValueFrom != nil {
				keyRef = e.ValueFrom.SecretKeyRef
			}
		}
		if keyRef == nil || keyRef.Name != secret.Name {
			t.Errorf("%s: EDGECDN_GOSSIP_KEY does not come from the Secret %s", pr, secret.Name)
		}
		if pr.p.flag("name") == "" && !hasFieldRefEnv(pr.c, "EDGECDN_NAME", "metadata.name") {
			t.Errorf("%s: --name is neither set nor the pod name (EDGECDN_NAME from metadata.name)", pr)
		}
	}
	if members == 0 {
		t.Error("no gossip member")
	}
	for _, w := range m.serviceSelects(svc) {
		found := false
		for _, pr := range procs {
			if pr.w == w && pr.p.fs != nil && pr.p.fs.Lookup("join") != nil {
				found = true
			}
		}
		if !found {
			t.Errorf("the gossip Service selects %s, which is no gossip member", w)
		}
	}
}

func hasFieldRefEnv(c *corev1.Container, name, path string) bool {
	for _, e := range c.Env {
		if e.Name == name && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == path {
			return true
		}
	}
	return false
}

// gossipSecret returns the generated gossip-key Secret and checks its key.
func gossipSecret(t *testing.T, m *manifests) *corev1.Secret {
	t.Helper()
	var found []*corev1.Secret
	for _, s := range m.secrets {
		if strings.HasPrefix(s.Name, "gossip-key-") {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one generated gossip-key-<hash> Secret, have %d", len(found))
	}
	checkKey(t, "Secret "+found[0].Name, string(found[0].Data["key"]))
	return found[0]
}

func checkKey(t *testing.T, what, key string) {
	t.Helper()
	// One key, or NEW,OLD while keys rotate (k8s/README.md): each the base64 of 32 bytes.
	for _, k := range strings.Split(key, ",") {
		raw, err := base64.StdEncoding.DecodeString(k)
		if err != nil || len(raw) != 32 {
			t.Errorf("%s: %q is not the base64 of 32 bytes (%d bytes, %v)", what, k, len(raw), err)
		}
	}
	if k, _, err := cluster.ParseKeys(key); err != nil || len(k) != 32 {
		t.Errorf("%s: edgecdn refuses the key: %v", what, err)
	}
}

// effective returns the container's security setting, else the pod's.
func effective[T any](c, p *T) *T {
	if c != nil {
		return c
	}
	return p
}

// checkSecurity: every container runs as 65532, non-root, on a read-only root filesystem,
// without privilege escalation or any capability, under the RuntimeDefault seccomp profile.
func checkSecurity(t *testing.T, m *manifests) {
	for _, w := range m.workloads {
		spec := &w.tpl.Spec
		if spec.HostNetwork || spec.HostPID || spec.HostIPC {
			t.Errorf("%s: uses the host's namespaces", w)
		}
		if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
			t.Errorf("%s: mounts a service account token it does not need", w)
		}
		psc := spec.SecurityContext
		if psc == nil {
			psc = &corev1.PodSecurityContext{}
		}
		for _, c := range allContainers(w.tpl) {
			sc := c.SecurityContext
			if sc == nil {
				sc = &corev1.SecurityContext{}
			}
			where := w.String() + " container " + c.Name
			if v := effective(sc.RunAsNonRoot, psc.RunAsNonRoot); v == nil || !*v {
				t.Errorf("%s: runAsNonRoot is not true", where)
			}
			if v := effective(sc.RunAsUser, psc.RunAsUser); v == nil || *v != nonRoot {
				t.Errorf("%s: runAsUser is not %d", where, nonRoot)
			}
			if v := sc.ReadOnlyRootFilesystem; v == nil || !*v {
				t.Errorf("%s: readOnlyRootFilesystem is not true", where)
			}
			if v := sc.AllowPrivilegeEscalation; v == nil || *v {
				t.Errorf("%s: allowPrivilegeEscalation is not false", where)
			}
			if sc.Privileged != nil && *sc.Privileged {
				t.Errorf("%s: privileged", where)
			}
			if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
				t.Errorf("%s: capabilities %+v, want drop [ALL] and nothing added", where, sc.Capabilities)
			}
			if v := effective(sc.SeccompProfile, psc.SeccompProfile); v == nil || v.Type != corev1.SeccompProfileTypeRuntimeDefault {
				t.Errorf("%s: seccomp profile is not RuntimeDefault", where)
			}
			for _, p := range c.Ports {
				if p.HostPort != 0 {
					t.Errorf("%s: hostPort %d", where, p.HostPort)
				}
			}
		}
	}
}

// checkResources: every container requests and is limited in CPU and memory.
func checkResources(t *testing.T, m *manifests) {
	for _, w := range m.workloads {
		for _, c := range allContainers(w.tpl) {
			for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				req, okReq := c.Resources.Requests[r]
				lim, okLim := c.Resources.Limits[r]
				if !okReq || !okLim {
					t.Errorf("%s container %s: %s request or limit missing", w, c.Name, r)
					continue
				}
				if req.Sign() <= 0 || req.Cmp(lim) > 0 {
					t.Errorf("%s container %s: %s request %s, limit %s", w, c.Name, r, req.String(), lim.String())
				}
			}
		}
	}
}

// checkPDBs: the edges, balancers and origins have disruption budgets, each over the
// workloads of one component, and a drain of any one zone's nodes completes: a zone may have a
// single node, so every pod pinned to the zone is evicted and stays Pending until the node is
// back, and the budgets must allow all of them to be away at once (a budget per zone of
// maxUnavailable 1 refused the second eviction forever). Yet no budget allows every pod away.
func checkPDBs(t *testing.T, m *manifests) {
	covered := map[*workload]bool{}
	for _, pdb := range m.pdbs {
		var sel []*workload
		comps := map[string]bool{}
		total := 0
		for _, w := range m.workloads {
			if selects(t, pdb.Spec.Selector, w.tpl.Labels) {
				sel = append(sel, w)
				comps[w.tpl.Labels["app.kubernetes.io/component"]] = true
				total += int(w.replicas)
			}
		}
		if len(sel) == 0 || len(comps) != 1 {
			t.Errorf("PodDisruptionBudget/%s selects %d workloads of %d components, want those of one", pdb.Name, len(sel), len(comps))
			continue
		}
		var allowed int
		switch {
		case pdb.Spec.MaxUnavailable != nil:
			v, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MaxUnavailable, total, true)
			if err != nil {
				t.Errorf("PodDisruptionBudget/%s: %v", pdb.Name, err)
			}
			allowed = v
		case pdb.Spec.MinAvailable != nil:
			v, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MinAvailable, total, true)
			if err != nil {
				t.Errorf("PodDisruptionBudget/%s: %v", pdb.Name, err)
			}
			allowed = total - v
		default:
			t.Errorf("PodDisruptionBudget/%s sets neither minAvailable nor maxUnavailable", pdb.Name)
			continue
		}
		if allowed < 1 {
			t.Errorf("PodDisruptionBudget/%s: allows %d of %d pods away: it blocks every eviction", pdb.Name, allowed, total)
		}
		if allowed >= total {
			t.Errorf("PodDisruptionBudget/%s: allows all %d pods away: it guards nothing", pdb.Name, total)
		}
		// A drain of one zone's only node: every pod pinned to the zone goes at once.
		for _, z := range zones {
			pinned := 0
			for _, w := range sel {
				if slices.Contains(nodeZones(w), z) {
					pinned += int(w.replicas)
				}
			}
			if pinned > allowed {
				t.Errorf("PodDisruptionBudget/%s: draining %s evicts %d pods pinned to it, which stay Pending, but the budget allows %d away: the drain never completes", pdb.Name, z, pinned, allowed)
			}
		}
		for _, w := range sel {
			covered[w] = true
		}
	}
	for _, w := range m.workloads {
		c := w.tpl.Labels["app.kubernetes.io/component"]
		if (c == "edge" || c == "lb" || c == "origin") && !covered[w] {
			t.Errorf("%s has no PodDisruptionBudget", w)
		}
	}
}

// checkPrometheus: every server is annotated for scraping on its HTTP port at /metrics.
func checkPrometheus(t *testing.T, m *manifests, procs []proc) {
	for _, pr := range procs {
		if !pr.w.longRunning || pr.init {
			continue
		}
		a := pr.w.tpl.Annotations
		if a["prometheus.io/scrape"] != "true" || a["prometheus.io/path"] != "/metrics" {
			t.Errorf("%s: prometheus.io annotations %v, want scrape \"true\" and path /metrics", pr, a)
		}
		if want := pr.p.metricsPort(t); a["prometheus.io/port"] != itoa(want) {
			t.Errorf("%s: prometheus.io/port %q, but /metrics is on %d", pr, a["prometheus.io/port"], want)
		}
		// The port is declared, named admin, and serves /metrics without a token (the
		// Endpoints of package httpx: a plain Prometheus scrapes it by the annotations).
		if cp, ok := containerPort(pr.c, intstr.FromInt32(int32(pr.p.metricsPort(t))), corev1.ProtocolTCP); !ok || cp.Name != "admin" {
			t.Errorf("%s: /metrics on port %d, which is no container port named admin", pr, pr.p.metricsPort(t))
		}
	}
}

// checkAdmin: every server has an admin token from the Secret admin-token, and its admin
// endpoints (/debug/pprof/, /cluster, /admin/, /metrics) on an admin listener of their own, on
// no Service: the client ports serve only content, /healthz and /readyz.
func checkAdmin(t *testing.T, m *manifests, procs []proc) {
	for _, pr := range procs {
		if !pr.w.longRunning || pr.init || pr.p.binary != "edgecdn" {
			continue
		}
		var fromSecret bool
		for _, e := range pr.c.Env {
			if e.Name == "EDGECDN_ADMIN_TOKEN" && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil &&
				strings.HasPrefix(e.ValueFrom.SecretKeyRef.Name, "admin-token") {
				fromSecret = true
			}
		}
		if !fromSecret || pr.p.flag("admin-token") == "" {
			t.Errorf("%s: no admin token from the Secret admin-token (EDGECDN_ADMIN_TOKEN)", pr)
		}
		if pr.p.sub != "dns" && pr.p.flag("admin-listen") == "" {
			t.Errorf("%s: no --admin-listen: its client port serves /debug/pprof/ and /metrics", pr)
		}
		admin := pr.p.metricsPort(t)
		if admin == pr.p.httpPort(t) && pr.p.sub != "dns" {
			t.Errorf("%s: the admin listener is the client port %d", pr, admin)
		}
		for _, svc := range m.services {
			if !selects(t, &metav1.LabelSelector{MatchLabels: svc.Spec.Selector}, pr.w.tpl.Labels) {
				continue
			}
			for _, sp := range svc.Spec.Ports {
				cp, ok := containerPort(pr.c, sp.TargetPort, sp.Protocol)
				if ok && (int(cp.ContainerPort) == admin || cp.Name == "admin") {
					t.Errorf("Service/%s (%s) exposes %s's admin port %d", svc.Name, svc.Spec.Type, pr, admin)
				}
			}
		}
	}
	found := false
	for _, s := range m.secrets {
		if strings.HasPrefix(s.Name, "admin-token") && len(s.Data["token"]) >= 16 {
			found = true
		}
	}
	if !found {
		t.Error("no Secret admin-token with a token of 16 bytes or more")
	}
}

// checkTermination: a gossip member's grace period covers its whole stop: the preStop sleep,
// the drain (--drain-delay), leaving the gossip (up to 4 s) and the in-flight responses
// (--shutdown-timeout), so the kubelet never kills it mid-drain; edges, reached through the
// gossip and steering rather than Service endpoints, start draining at SIGTERM (no preStop).
func checkTermination(t *testing.T, procs []proc) {
	for _, pr := range procs {
		if !pr.w.longRunning || pr.init || pr.p.binary != "edgecdn" {
			continue
		}
		sec := func(name string) float64 {
			v := pr.p.flag(name)
			if v == "" {
				return 0
			}
			d, err := time.ParseDuration(v)
			if err != nil {
				t.Errorf("%s: --%s %q: %v", pr, name, v, err)
			}
			return d.Seconds()
		}
		var preStop float64
		if l := pr.c.Lifecycle; l != nil && l.PreStop != nil && l.PreStop.Sleep != nil {
			preStop = float64(l.PreStop.Sleep.Seconds)
		}
		if pr.p.sub == "edge" && preStop > 0 {
			t.Errorf("%s: a preStop sleep of %v s holds back the edge's drain", pr, preStop)
		}
		if pr.p.sub != "edge" && preStop == 0 {
			t.Errorf("%s: no preStop sleep: the Service may still send to it after it stops", pr)
		}
		need := preStop + sec("drain-delay") + sec("shutdown-timeout")
		if pr.p.fs.Lookup("gossip-listen") != nil {
			need += 4
		}
		grace := 30.0
		if g := pr.w.tpl.Spec.TerminationGracePeriodSeconds; g != nil {
			grace = float64(*g)
		}
		if need > grace {
			t.Errorf("%s: stopping takes up to %.0f s (preStop, drain, leave, shutdown), over terminationGracePeriodSeconds %.0f", pr, need, grace)
		}
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// checkVolumes: mounts name declared volumes; what a process writes is on a writable mount,
// what it reads on a mount; the origin serves the volume its initContainer packaged into.
func checkVolumes(t *testing.T, m *manifests, procs []proc) {
	for _, w := range m.workloads {
		vols := map[string]bool{}
		for _, v := range w.tpl.Spec.Volumes {
			vols[v.Name] = true
		}
		for _, c := range allContainers(w.tpl) {
			for _, vm := range c.VolumeMounts {
				if !vols[vm.Name] {
					t.Errorf("%s container %s mounts undeclared volume %q", w, c.Name, vm.Name)
				}
			}
		}
	}
	mountFor := func(c *corev1.Container, path string) *corev1.VolumeMount {
		for i, vm := range c.VolumeMounts {
			if path == vm.MountPath || strings.HasPrefix(path, strings.TrimSuffix(vm.MountPath, "/")+"/") {
				return &c.VolumeMounts[i]
			}
		}
		return nil
	}
	origins := 0
	for _, pr := range procs {
		var write, read string
		switch {
		case pr.p.sub == "package":
			write = pr.p.flag("out")
		case pr.p.sub == "origin":
			read = pr.p.flag("content")
		case pr.p.binary == "player-sim" && pr.p.values["json"] != "-":
			write = pr.p.values["json"]
		}
		if write != "" {
			if vm := mountFor(pr.c, write); vm == nil || vm.ReadOnly || !filepath.IsAbs(write) {
				t.Errorf("%s: writes %q, which is on no writable volume (the root filesystem is read-only)", pr, write)
			}
		}
		if read != "" {
			vm := mountFor(pr.c, read)
			if vm == nil {
				t.Errorf("%s: reads %q, which is on no volume", pr, read)
				continue
			}
			origins++
			packaged := false
			for _, other := range procs {
				if other.w == pr.w && other.init && other.p.sub == "package" {
					if om := mountFor(other.c, other.p.flag("out")); om != nil && om.Name == vm.Name && other.p.flag("out") == read {
						packaged = true
					}
				}
			}
			if !packaged {
				t.Errorf("%s: no initContainer packages %q into volume %q", pr, read, vm.Name)
			}
		}
	}
	if origins == 0 {
		t.Error("no origin")
	}
}

// checkPlayerSim: the Job runs /player-sim against the steering Service and keeps its report.
func checkPlayerSim(t *testing.T, m *manifests, procs []proc) {
	n := 0
	for _, pr := range procs {
		if pr.p.binary != "player-sim" {
			continue
		}
		n++
		if pr.w.kind != "Job" || pr.w.tpl.Spec.RestartPolicy != corev1.RestartPolicyNever {
			t.Errorf("%s: player-sim runs as a Job with restartPolicy Never", pr)
		}
		if u := pr.p.values["steering"]; u != "" {
			m.checkServiceURL(t, pr.String()+" --steering", u)
		}
		// The report on stdout: kubectl logs shows it after the pod is gone (an emptyDir is not).
		if pr.p.values["json"] != "-" {
			t.Errorf("%s: --json %q, want - (the JSON report on stdout, for kubectl logs)", pr, pr.p.values["json"])
		}
		// Started with the rest, it waits for steering rather than failing its first pods.
		if d, err := time.ParseDuration(pr.p.values["wait"]); err != nil || d < time.Minute {
			t.Errorf("%s: --wait %q, want a minute or more", pr, pr.p.values["wait"])
		}
	}
	if n != 1 {
		t.Errorf("want one player-sim container, have %d", n)
	}
}

// kindCluster is the part of kind's Cluster (kind.x-k8s.io/v1alpha4) that k8s/kind-cluster.yaml
// uses, decoded strictly.
type kindCluster struct {
	Kind       string `json:"kind"`
	APIVersion string `json:"apiVersion"`
	Name       string `json:"name"`
	Nodes      []struct {
		Role              string            `json:"role"`
		Labels            map[string]string `json:"labels"`
		ExtraPortMappings []struct {
			ContainerPort int32  `json:"containerPort"`
			HostPort      int32  `json:"hostPort"`
			ListenAddress string `json:"listenAddress"`
			Protocol      string `json:"protocol"`
		} `json:"extraPortMappings"`
	} `json:"nodes"`
}

// TestKindOverlay checks what the kind overlay adds to the base against k8s/kind-cluster.yaml:
// a worker per zone; a host port mapping for every NodePort; each balancer advertising the host
// address that reaches it; the image built by `make image`, never pulled.
func TestKindOverlay(t *testing.T) {
	m := parseManifests(t, kustomize(t, "overlays/kind"))
	b, err := os.ReadFile("kind-cluster.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var kc kindCluster
	if err := yaml.UnmarshalStrict(b, &kc); err != nil {
		t.Fatalf("kind-cluster.yaml: %v", err)
	}
	if kc.Kind != "Cluster" || kc.APIVersion != "kind.x-k8s.io/v1alpha4" {
		t.Fatalf("kind-cluster.yaml: %s %s", kc.APIVersion, kc.Kind)
	}
	workers := map[string]int{}
	type mapping struct {
		nodePort int32
		proto    corev1.Protocol
	}
	hostAddrs := map[mapping][]string{}
	for _, n := range kc.Nodes {
		switch n.Role {
		case "worker":
			workers[n.Labels["topology.kubernetes.io/zone"]]++
		case "control-plane":
		default:
			t.Errorf("kind-cluster.yaml: node role %q", n.Role)
		}
		for _, pm := range n.ExtraPortMappings {
			k := mapping{pm.ContainerPort, corev1.Protocol(strings.ToUpper(pm.Protocol))}
			hostAddrs[k] = append(hostAddrs[k], pm.ListenAddress+":"+itoa(int(pm.HostPort)))
		}
	}
	for _, z := range zones {
		if workers[z] == 0 {
			t.Errorf("kind-cluster.yaml: no worker labelled topology.kubernetes.io/zone=%s", z)
		}
	}
	nodePorts := map[mapping]*corev1.Service{}
	for _, svc := range m.services {
		if svc.Spec.Type != corev1.ServiceTypeNodePort {
			continue
		}
		for _, sp := range svc.Spec.Ports {
			if sp.NodePort == 0 {
				continue // allocated by the cluster, not forwarded from the host
			}
			k := mapping{sp.NodePort, sp.Protocol}
			nodePorts[k] = svc
			if len(hostAddrs[k]) == 0 {
				t.Errorf("Service/%s nodePort %d/%s: no host port mapping in kind-cluster.yaml", svc.Name, sp.NodePort, sp.Protocol)
			}
		}
	}
	for k := range hostAddrs {
		if nodePorts[k] == nil {
			t.Errorf("kind-cluster.yaml maps container port %d/%s, which is no NodePort", k.nodePort, k.proto)
		}
	}
	wantNodePort := map[string][]corev1.Protocol{"dns-nodeport": {corev1.ProtocolUDP, corev1.ProtocolTCP}, "steering": {corev1.ProtocolTCP}}
	for _, z := range zones {
		wantNodePort["lb-"+z] = []corev1.Protocol{corev1.ProtocolTCP}
	}
	for name, protos := range wantNodePort {
		svc := m.service(name)
		if svc == nil || svc.Spec.Type != corev1.ServiceTypeNodePort {
			t.Errorf("Service/%s is not a NodePort Service", name)
			continue
		}
		for _, proto := range protos {
			found := false
			for _, sp := range svc.Spec.Ports {
				found = found || (sp.Protocol == proto && sp.NodePort != 0)
			}
			if !found {
				t.Errorf("Service/%s: no %s NodePort", name, proto)
			}
		}
	}
	procs := m.processes(t)
	for _, pr := range procs {
		if pr.c.Image != "edgecdn:dev" || pr.c.ImagePullPolicy != corev1.PullIfNotPresent {
			t.Errorf("%s: image %q pull policy %q, want edgecdn:dev IfNotPresent", pr, pr.c.Image, pr.c.ImagePullPolicy)
		}
		if pr.p.sub != "lb" {
			continue
		}
		// The balancer advertises a host address that kind forwards to its NodePort.
		adv := pr.p.flag("advertise")
		var reach []string
		for _, svc := range m.services {
			if !slices.Contains(m.serviceSelects(svc), pr.w) {
				continue
			}
			for _, sp := range svc.Spec.Ports {
				reach = append(reach, hostAddrs[mapping{sp.NodePort, corev1.ProtocolTCP}]...)
			}
		}
		if !slices.Contains(reach, adv) {
			t.Errorf("%s: --advertise %q, but the host reaches this balancer at %v", pr, adv, reach)
		}
		if pr.w.replicas != 1 {
			t.Errorf("%s: %d replicas would all advertise %s", pr, pr.w.replicas, adv)
		}
	}
}

// TestZoneFilesAgree: zone-b.yaml and zone-c.yaml are zone-a.yaml with the zone renamed.
func TestZoneFilesAgree(t *testing.T) {
	a, err := os.ReadFile("base/zone-a.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, z := range zones[1:] {
		b, err := os.ReadFile("base/" + z + ".yaml")
		if err != nil {
			t.Fatal(err)
		}
		want := stripComments(strings.ReplaceAll(string(a), "zone-a", z))
		if got := stripComments(string(b)); got != want {
			t.Errorf("base/%s.yaml is not base/zone-a.yaml with the zone renamed: regenerate it with\n  sed s/zone-a/%s/g k8s/base/zone-a.yaml", z, z)
		}
	}
}

// TestGossipKeyFile: the demo key is the base64 of 32 bytes.
func TestGossipKeyFile(t *testing.T) {
	b, err := os.ReadFile("base/gossip.key")
	if err != nil {
		t.Fatal(err)
	}
	checkKey(t, "base/gossip.key", string(b))
}

var metricName = regexp.MustCompile(`edgecdn_[a-z0-9_]+`)

// TestGrafanaDashboard: the dashboard is valid JSON, in the generated ConfigMap as it is in the
// file, has the panels it promises, and queries only metrics the code exports.
func TestGrafanaDashboard(t *testing.T) {
	b, err := os.ReadFile("base/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Type    string `json:"type"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
			Options map[string]any `json:"options"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	m := parseManifests(t, kustomize(t, "base"))
	found := false
	for _, cm := range m.configMaps {
		if cm.Name == "grafana-dashboard-edgecdn" {
			found = trimmed([]byte(cm.Data["edgecdn.json"])) == trimmed(b) && cm.Labels["grafana_dashboard"] == "1"
		}
	}
	if !found {
		t.Error("no ConfigMap grafana-dashboard-edgecdn (label grafana_dashboard=1) holding grafana-dashboard.json")
	}
	exported := exportedMetrics(t)
	var titles []string
	for _, p := range dash.Panels {
		titles = append(titles, strings.ToLower(p.Title))
		for _, tg := range p.Targets {
			for _, name := range metricName.FindAllString(tg.Expr, -1) {
				if !exported[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")] {
					t.Errorf("panel %q queries %s, which no code exports", p.Title, name)
				}
			}
		}
	}
	for _, want := range []string{"hit ratio", "origin offload", "egress", "balancer", "dns", "player"} {
		if !slices.ContainsFunc(titles, func(s string) bool { return strings.Contains(s, want) }) {
			t.Errorf("no panel about %q (panels: %q)", want, titles)
		}
	}
}

// exportedMetrics returns every edgecdn_* name in the repository's non-test Go code.
func exportedMetrics(t *testing.T) map[string]bool {
	out := map[string]bool{}
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, n := range metricName.FindAllString(string(b), -1) {
			out[n] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDockerfile: the image the manifests run has both binaries, runs as 65532 from scratch,
// and starts /edgecdn.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var froms []string
	var final []string
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "FROM ") {
			froms = append(froms, l)
			final = nil
		}
		final = append(final, l)
	}
	if len(froms) < 2 || froms[len(froms)-1] != "FROM scratch" {
		t.Errorf("want a multi-stage build whose last stage is FROM scratch: %q", froms)
	}
	text := strings.Join(final, "\n")
	for _, want := range []string{"USER 65532:65532", `ENTRYPOINT ["/edgecdn"]`, "/out/edgecdn /out/player-sim /", "ca-certificates.crt"} {
		if !strings.Contains(text, want) {
			t.Errorf("the final stage lacks %q", want)
		}
	}
	for _, want := range []string{"-o /out/edgecdn ./cmd/edgecdn", "-o /out/player-sim ./player-sim", "CGO_ENABLED=0"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("the build stage lacks %q", want)
		}
	}
}

// TestKubectlKustomizeAgrees: kubectl's own kustomize renders the same objects as the library
// these tests use, so that `kubectl apply -k` applies what was checked.
func TestKubectlKustomizeAgrees(t *testing.T) {
	kubectl := testenv.Tool(t, "kubectl")
	// kubectl embeds kustomize since 1.14, but only kustomize v5 (kubectl 1.27+) knows the
	// fields used here (Debian's kubernetes-client 1.20 does not).
	out, err := exec.Command(kubectl, "version", "--client", "-o", "json").Output()
	if err != nil {
		t.Fatalf("kubectl version: %v", err)
	}
	var v struct {
		KustomizeVersion string `json:"kustomizeVersion"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("kubectl version: %v", err)
	}
	major, _, _ := strings.Cut(strings.TrimPrefix(v.KustomizeVersion, "v"), ".")
	if n, err := strconv.Atoi(major); err != nil || n < 5 {
		t.Skipf("kubectl embeds kustomize %q, older than v5 (install kubectl 1.27 or later): not compared", v.KustomizeVersion)
	}
	for _, dir := range kustomizations {
		out, err := exec.Command(kubectl, "kustomize", dir).Output()
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				t.Fatalf("kubectl kustomize %s: %v\n%s", dir, err, ee.Stderr)
			}
			t.Fatalf("kubectl kustomize %s: %v", dir, err)
		}
		want := map[string]any{}
		for _, doc := range splitYAML(kustomize(t, dir)) {
			want[objectKey(t, doc)] = normalise(t, doc)
		}
		got := map[string]any{}
		for _, doc := range splitYAML(out) {
			got[objectKey(t, doc)] = normalise(t, doc)
		}
		if !reflect.DeepEqual(sortedKeys(got), sortedKeys(want)) {
			t.Errorf("%s: kubectl renders %q, the library %q", dir, sortedKeys(got), sortedKeys(want))
			continue
		}
		for k, v := range want {
			if !reflect.DeepEqual(got[k], v) {
				t.Errorf("%s: kubectl and the library render %s differently", dir, k)
			}
		}
	}
}
