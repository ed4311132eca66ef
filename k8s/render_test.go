package k8s_test

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"edgecdn/cmd/edgecdn/commands"
	"edgecdn/internal/cli"
)

// kustomize renders the kustomization in dir (relative to k8s/) in process, with the same
// library kubectl embeds: no tool needed.
func kustomize(t testing.TB, dir string) []byte {
	t.Helper()
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), abs)
	if err != nil {
		t.Fatalf("kustomize %s: %v", dir, err)
	}
	out, err := m.AsYaml()
	if err != nil {
		t.Fatalf("kustomize %s: %v", dir, err)
	}
	return out
}

var docSep = regexp.MustCompile(`(?m)^---[ \t]*$`)

// splitYAML splits a YAML stream into its non-empty documents.
func splitYAML(stream []byte) [][]byte {
	var docs [][]byte
	for _, d := range docSep.Split(string(stream), -1) {
		if strings.TrimSpace(stripComments(d)) != "" {
			docs = append(docs, []byte(d))
		}
	}
	return docs
}

func stripComments(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// manifests is a rendered kustomization, every object decoded strictly into its API type.
type manifests struct {
	namespaces  []*corev1.Namespace
	deployments []*appsv1.Deployment
	statefuls   []*appsv1.StatefulSet
	jobs        []*batchv1.Job
	services    []*corev1.Service
	pdbs        []*policyv1.PodDisruptionBudget
	secrets     []*corev1.Secret
	configMaps  []*corev1.ConfigMap
	workloads   []*workload
	count       int
}

// workload is anything with a pod template.
type workload struct {
	kind, name  string
	selector    *metav1.LabelSelector
	replicas    int32
	tpl         *corev1.PodTemplateSpec
	longRunning bool // a Deployment or StatefulSet (not a Job)
}

func (w *workload) String() string { return w.kind + "/" + w.name }

// decodeStrict decodes one YAML document into its Kubernetes API type, refusing unknown and
// duplicate fields.
func decodeStrict(doc []byte) (any, error) {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return nil, err
	}
	var obj any
	switch tm.APIVersion + " " + tm.Kind {
	case "v1 Namespace":
		obj = new(corev1.Namespace)
	case "v1 Service":
		obj = new(corev1.Service)
	case "v1 Secret":
		obj = new(corev1.Secret)
	case "v1 ConfigMap":
		obj = new(corev1.ConfigMap)
	case "apps/v1 Deployment":
		obj = new(appsv1.Deployment)
	case "apps/v1 StatefulSet":
		obj = new(appsv1.StatefulSet)
	case "batch/v1 Job":
		obj = new(batchv1.Job)
	case "policy/v1 PodDisruptionBudget":
		obj = new(policyv1.PodDisruptionBudget)
	default:
		return nil, fmt.Errorf("unexpected object %s %s", tm.APIVersion, tm.Kind)
	}
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		return nil, fmt.Errorf("%s: %w", tm.Kind, err)
	}
	return obj, nil
}

func parseManifests(t testing.TB, stream []byte) *manifests {
	t.Helper()
	m := &manifests{}
	for _, doc := range splitYAML(stream) {
		obj, err := decodeStrict(doc)
		if err != nil {
			t.Fatalf("%v\n%s", err, doc)
		}
		m.count++
		switch o := obj.(type) {
		case *corev1.Namespace:
			m.namespaces = append(m.namespaces, o)
		case *corev1.Service:
			m.services = append(m.services, o)
		case *corev1.Secret:
			m.secrets = append(m.secrets, o)
		case *corev1.ConfigMap:
			m.configMaps = append(m.configMaps, o)
		case *appsv1.Deployment:
			m.deployments = append(m.deployments, o)
			m.workloads = append(m.workloads, &workload{"Deployment", o.Name, o.Spec.Selector, replicas(o.Spec.Replicas), &o.Spec.Template, true})
		case *appsv1.StatefulSet:
			m.statefuls = append(m.statefuls, o)
			m.workloads = append(m.workloads, &workload{"StatefulSet", o.Name, o.Spec.Selector, replicas(o.Spec.Replicas), &o.Spec.Template, true})
		case *batchv1.Job:
			m.jobs = append(m.jobs, o)
			m.workloads = append(m.workloads, &workload{"Job", o.Name, o.Spec.Selector, 1, &o.Spec.Template, false})
		case *policyv1.PodDisruptionBudget:
			m.pdbs = append(m.pdbs, o)
		}
	}
	if m.count == 0 {
		t.Fatal("the kustomization rendered no object")
	}
	return m
}

func replicas(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}

// selects reports whether the label selector sel selects pods with labels l.
func selects(t testing.TB, sel *metav1.LabelSelector, l map[string]string) bool {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Fatalf("selector %v: %v", sel, err)
	}
	return !s.Empty() && s.Matches(labels.Set(l))
}

// serviceSelects lists the workloads whose pods the Service selects.
func (m *manifests) serviceSelects(svc *corev1.Service) []*workload {
	if len(svc.Spec.Selector) == 0 {
		return nil
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	var ws []*workload
	for _, w := range m.workloads {
		if sel.Matches(labels.Set(w.tpl.Labels)) {
			ws = append(ws, w)
		}
	}
	return ws
}

func (m *manifests) service(name string) *corev1.Service {
	for _, s := range m.services {
		if s.Name == name {
			return s
		}
	}
	return nil
}

func (m *manifests) secret(name string) *corev1.Secret {
	for _, s := range m.secrets {
		if s.Name == name {
			return s
		}
	}
	return nil
}

func (m *manifests) workload(kind, name string) *workload {
	for _, w := range m.workloads {
		if w.kind == kind && w.name == name {
			return w
		}
	}
	return nil
}

// containerPort finds the port of c that a Service or probe port p (a name or a number) with
// protocol proto designates.
func containerPort(c *corev1.Container, p intstr.IntOrString, proto corev1.Protocol) (corev1.ContainerPort, bool) {
	if proto == "" {
		proto = corev1.ProtocolTCP
	}
	for _, cp := range c.Ports {
		cpProto := cp.Protocol
		if cpProto == "" {
			cpProto = corev1.ProtocolTCP
		}
		if cpProto != proto {
			continue
		}
		if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
			return cp, true
		}
	}
	return corev1.ContainerPort{}, false
}

// allContainers returns the init containers and the containers of a pod template.
func allContainers(tpl *corev1.PodTemplateSpec) []*corev1.Container {
	var cs []*corev1.Container
	for i := range tpl.Spec.InitContainers {
		cs = append(cs, &tpl.Spec.InitContainers[i])
	}
	for i := range tpl.Spec.Containers {
		cs = append(cs, &tpl.Spec.Containers[i])
	}
	return cs
}

// process is a container's command line as the binary parses it.
type process struct {
	binary string        // "edgecdn" or "player-sim"
	sub    string        // the edgecdn subcommand
	fs     *flag.FlagSet // the parsed flags (edgecdn only)
	given  map[string]bool
	values map[string]string // player-sim's --flag=value arguments
}

func (p *process) flag(name string) string {
	if p.fs == nil {
		return ""
	}
	f := p.fs.Lookup(name)
	if f == nil {
		return ""
	}
	return f.Value.String()
}

// varRef matches $(VAR) references, which the kubelet expands from the container's env.
var varRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// parseEdgecdn parses an edgecdn container's args (and EDGECDN_* env values, where literal or
// from the rendered Secret) with the binary's own flag parser.
func parseEdgecdn(m *manifests, c *corev1.Container) (*process, error) {
	if len(c.Args) == 0 {
		return nil, fmt.Errorf("no subcommand in args")
	}
	sub := c.Args[0]
	cmd, ok := commands.Commands()[sub]
	if !ok || sub == "demo" {
		return nil, fmt.Errorf("%q is not a server subcommand of edgecdn", sub)
	}
	fs := flag.NewFlagSet("edgecdn "+sub, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cmd.Flags(fs)
	envFlags := map[string]string{}
	fs.VisitAll(func(f *flag.Flag) { envFlags[cli.EnvName(f.Name)] = f.Name })
	env := map[string]string{}
	for _, e := range c.Env {
		if !strings.HasPrefix(e.Name, cli.EnvPrefix) {
			continue
		}
		if _, ok := envFlags[e.Name]; !ok {
			return nil, fmt.Errorf("env %s is no flag of edgecdn %s", e.Name, sub)
		}
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.SecretKeyRef != nil:
			s := m.secret(e.ValueFrom.SecretKeyRef.Name)
			if s == nil {
				return nil, fmt.Errorf("env %s: no Secret %q", e.Name, e.ValueFrom.SecretKeyRef.Name)
			}
			v, ok := s.Data[e.ValueFrom.SecretKeyRef.Key]
			if !ok {
				return nil, fmt.Errorf("env %s: Secret %s has no key %q", e.Name, s.Name, e.ValueFrom.SecretKeyRef.Key)
			}
			env[e.Name] = string(v)
		case e.ValueFrom.FieldRef != nil:
			// Known only in the pod: the name is checked, the value is not.
		default:
			return nil, fmt.Errorf("env %s: unexpected valueFrom", e.Name)
		}
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	if err := cli.Parse(fs, c.Args[1:], lookup); err != nil {
		return nil, fmt.Errorf("edgecdn %s %q: %w", sub, c.Args[1:], err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("edgecdn %s: unexpected arguments %q", sub, fs.Args())
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for k := range env {
		given[envFlags[k]] = true
	}
	return &process{binary: "edgecdn", sub: sub, fs: fs, given: given}, nil
}

// hostPort splits HOST:PORT, or fails the test.
func hostPort(t testing.TB, what, s string) (string, int) {
	t.Helper()
	h, p, err := net.SplitHostPort(s)
	if err != nil {
		t.Fatalf("%s %q: %v", what, s, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("%s %q: port: %v", what, s, err)
	}
	return h, n
}

// portKey is a port number and protocol.
type portKey struct {
	port  int32
	proto corev1.Protocol
}

func (k portKey) String() string { return fmt.Sprintf("%d/%s", k.port, k.proto) }

// listened returns the ports the process binds, by the flags that set them.
func (p *process) listened(t testing.TB) map[portKey]string {
	out := map[portKey]string{}
	add := func(flagName string, protos ...corev1.Protocol) {
		v := p.flag(flagName)
		if v == "" {
			return
		}
		_, n := hostPort(t, "--"+flagName, v)
		for _, pr := range protos {
			out[portKey{int32(n), pr}] = flagName
		}
	}
	switch p.sub {
	case "package":
	case "dns":
		add("listen", corev1.ProtocolUDP, corev1.ProtocolTCP)
		add("http-listen", corev1.ProtocolTCP)
		add("gossip-listen", corev1.ProtocolUDP, corev1.ProtocolTCP)
	default:
		add("listen", corev1.ProtocolTCP)
		add("admin-listen", corev1.ProtocolTCP)
		if p.fs.Lookup("gossip-listen") != nil && p.flag("standalone") != "true" {
			add("gossip-listen", corev1.ProtocolUDP, corev1.ProtocolTCP)
		}
	}
	return out
}

// httpPort is the port of the process's /healthz, /readyz and /metrics.
func (p *process) httpPort(t testing.TB) int {
	name := "listen"
	if p.sub == "dns" {
		name = "http-listen"
	}
	_, n := hostPort(t, "--"+name, p.flag(name))
	return n
}

// metricsPort is the port of the process's /metrics: its admin listener when it has one (the
// DNS server's HTTP port is one).
func (p *process) metricsPort(t testing.TB) int {
	name := "listen"
	switch {
	case p.sub == "dns":
		name = "http-listen"
	case p.flag("admin-listen") != "":
		name = "admin-listen"
	}
	_, n := hostPort(t, "--"+name, p.flag(name))
	return n
}

func sortedKeys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// normalise turns a YAML document into a comparable value.
func normalise(t testing.TB, doc []byte) any {
	t.Helper()
	j, err := yaml.YAMLToJSON(doc)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := yaml.Unmarshal(j, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func objectKey(t testing.TB, doc []byte) string {
	var o struct {
		Kind     string `json:"kind"`
		Metadata struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
	}
	if err := yaml.Unmarshal(doc, &o); err != nil {
		t.Fatal(err)
	}
	return o.Kind + " " + o.Metadata.Namespace + "/" + o.Metadata.Name
}

func trimmed(b []byte) string { return string(bytes.TrimSpace(b)) }
