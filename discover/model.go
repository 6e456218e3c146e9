package discover

import (
	"errors"
	"fmt"
	"strings"

	"github.com/distribution/reference"

	"github.com/hoistctl/hoist/discover/appconfig"
)

// SchemaVersion is the version of inventory.json and analysis.json. It
// changes only when a field changes meaning or is removed.
const SchemaVersion = 1

// AppType is the kind of application hoist found.
type AppType string

const (
	TypeTomcat     AppType = "java-tomcat"
	TypeTomEE      AppType = "java-tomee"
	TypeJetty      AppType = "java-jetty"
	TypeJBoss      AppType = "java-jboss"
	TypeSpringBoot AppType = "java-spring-boot"
	TypeJavaGen    AppType = "java-generic"
	TypeDotnet     AppType = "dotnet"
	TypeDotnetHost AppType = "dotnet-apphost"
	TypeMono       AppType = "dotnet-mono"
	TypeMonoXSP    AppType = "dotnet-mono-xsp"
)

// Family is java or dotnet.
func (t AppType) Family() string {
	switch t {
	case TypeDotnet, TypeDotnetHost, TypeMono, TypeMonoXSP:
		return "dotnet"
	}
	return "java"
}

// Inventory is inventory.json: the applications found on one host.
type Inventory struct {
	SchemaVersion int    `json:"schemaVersion"`
	Host          string `json:"host"`
	Apps          []App  `json:"apps"`
	// Skipped counts processes that could not be examined, by reason.
	Skipped map[string]int `json:"skipped,omitempty"`
	// Warnings say what the scan could not see (not root, hidepid, ...).
	Warnings []string `json:"warnings,omitempty"`
}

// Find returns the first app match picks.
func (inv *Inventory) Find(match func(App) bool) (App, bool) {
	for _, a := range inv.Apps {
		if match(a) {
			return a, true
		}
	}
	return App{}, false
}

// App is one application in the inventory.
type App struct {
	ID   string  `json:"id"`
	Type AppType `json:"type"`
	// PID is the app's main process: the one whose parent is not part of
	// the same app. PIDs lists every process of the app.
	PID  int32   `json:"pid"`
	PIDs []int32 `json:"pids,omitempty"`
	User string  `json:"user"`
	UID  uint32  `json:"uid"`
	// Path is what identifies the app: server base dir, jar, dll, exe.
	Path  string `json:"path"`
	Ports []Port `json:"ports,omitempty"`
	// Summary is a one-line description for tables.
	Summary string `json:"summary,omitempty"`
}

// Port is a listening socket.
type Port struct {
	Protocol string `json:"protocol"` // tcp, tcp6, udp, udp6
	Address  string `json:"address"`
	Port     uint32 `json:"port"`
}

// Analysis is APP/analysis.json. Observed is what hoist saw on the host and
// is rewritten by every analyze run; ContainerParameters is the user's to
// edit and is kept across runs.
type Analysis struct {
	SchemaVersion       int                 `json:"schemaVersion"`
	ID                  string              `json:"id"`
	Type                AppType             `json:"type"`
	Observed            Observed            `json:"observed"`
	ContainerParameters ContainerParameters `json:"containerParameters"`
}

// Observed is the read-only part of analysis.json.
type Observed struct {
	Host         string          `json:"host"`
	Process      ProcessInfo     `json:"process"`
	Runtime      RuntimeInfo     `json:"runtime"`
	Server       *ServerInfo     `json:"server,omitempty"`
	Ports        []Port          `json:"ports"`
	Environment  []EnvVar        `json:"environment"`
	ConfigFiles  []ConfigFile    `json:"configFiles,omitempty"`
	Dependencies []Dependency    `json:"dependencies,omitempty"`
	Files        FileLayout      `json:"files"`
	Warnings     []string        `json:"warnings,omitempty"`
	Secrets      []SecretSummary `json:"secrets,omitempty"`
}

// ProcessInfo describes the app's main process.
type ProcessInfo struct {
	PID           int32    `json:"pid"`
	PPID          int32    `json:"ppid"`
	ChildPIDs     []int32  `json:"childPids,omitempty"`
	Exe           string   `json:"exe"`
	Cmdline       []string `json:"cmdline"`
	Cwd           string   `json:"cwd"`
	User          string   `json:"user"`
	UID           uint32   `json:"uid"`
	GID           uint32   `json:"gid"`
	Group         string   `json:"group,omitempty"`
	Supplementary []uint32 `json:"supplementaryGids,omitempty"`
	// Ulimits lists only the limits that differ from the kernel's defaults
	// for a new login.
	Ulimits []Ulimit `json:"ulimits,omitempty"`
}

// Ulimit is one resource limit; -1 means unlimited.
type Ulimit struct {
	Name string `json:"name"`
	Soft int64  `json:"soft"`
	Hard int64  `json:"hard"`
}

// RuntimeInfo describes the language runtime the app runs on.
type RuntimeInfo struct {
	Kind    string `json:"kind"` // java, dotnet, mono
	Version string `json:"version"`
	Vendor  string `json:"vendor,omitempty"`
	Home    string `json:"home"`
	// VersionSource says how Version was learned.
	VersionSource string `json:"versionSource,omitempty"`
	// JVM only.
	JVMOptions       []string `json:"jvmOptions,omitempty"`
	SystemProperties []KV     `json:"systemProperties,omitempty"`
	MainClass        string   `json:"mainClass,omitempty"`
	MainJar          string   `json:"mainJar,omitempty"`
	Classpath        []string `json:"classpath,omitempty"`
	Args             []string `json:"args,omitempty"`
	// .NET only.
	Entrypoint string      `json:"entrypoint,omitempty"` // the dll or exe run
	Frameworks []Framework `json:"frameworks,omitempty"`
}

// KV is an ordered key/value (system properties keep command-line order).
// A secret value is empty with Secret set.
type KV struct {
	Key    string `json:"key"`
	Value  string `json:"value,omitempty"`
	Secret string `json:"secretRef,omitempty"`
}

// Framework is a .NET shared framework the app uses.
type Framework struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// ServerInfo describes an application server.
type ServerInfo struct {
	Type       string                `json:"type"` // tomcat, tomee, jetty, jboss, xsp
	Version    string                `json:"version,omitempty"`
	Home       string                `json:"home,omitempty"`
	Base       string                `json:"base,omitempty"`
	WebApps    []WebApp              `json:"webApps,omitempty"`
	Connectors []appconfig.Connector `json:"connectors,omitempty"`
}

// WebApp is a deployed web application.
type WebApp struct {
	Name        string `json:"name"`
	ContextPath string `json:"contextPath"`
	Path        string `json:"path"`
	Kind        string `json:"kind"` // war, exploded
}

// EnvVar is one environment variable of the process. A secret's value is
// never here; SecretRef names it in the secrets file.
type EnvVar struct {
	Name      string `json:"name"`
	Value     string `json:"value,omitempty"`
	SecretRef string `json:"secretRef,omitempty"`
	// System marks variables that describe the host session rather than the
	// app (HOME, SHELL, TERM, ...); they are not carried into the container.
	System bool `json:"system,omitempty"`
}

// ConfigFile is a configuration file that matters to the app.
type ConfigFile struct {
	Path string `json:"path"`
	appconfig.File
	// SecretRefs maps each secret setting of the file to its reference.
	SecretRefs []SecretLocation `json:"secretRefs,omitempty"`
	Error      string           `json:"error,omitempty"`
}

// SecretLocation says where a secret was and where its value went.
type SecretLocation struct {
	Key string `json:"key"`
	Ref string `json:"ref"`
}

// SecretSummary lists one secret for reviewers: where it was found and
// its reference in the secrets file, never its value.
type SecretSummary struct {
	Ref    string `json:"ref"`
	Source string `json:"source"` // env, config:PATH, cmdline
	Key    string `json:"key"`
	Reason string `json:"reason"`
}

// Dependency is an external service the app talks to.
type Dependency struct {
	Service string   `json:"service"`
	Host    string   `json:"host"`
	Port    int      `json:"port,omitempty"`
	Sources []string `json:"sources"`
}

// FileLayout separates what belongs to the app from what belongs to the OS.
type FileLayout struct {
	// App lists the app's own paths (web apps, jars, config, server dirs).
	App []FileRef `json:"app"`
	// Runtime is the language runtime's directory.
	Runtime []FileRef `json:"runtime,omitempty"`
	// Logs and Temp are left out of the image by default.
	Logs []string `json:"logs,omitempty"`
	Temp []string `json:"temp,omitempty"`
	// Libraries are shared objects the process has loaded (from maps).
	Libraries []string `json:"libraries,omitempty"`
}

// FileRef is one path; Target is set when the path is a symlink, and
// External when the target lies outside the app's directories.
type FileRef struct {
	Path     string `json:"path"`
	Role     string `json:"role"`
	Target   string `json:"target,omitempty"`
	External bool   `json:"external,omitempty"`
	Size     int64  `json:"size,omitempty"`
	Files    int    `json:"files,omitempty"`
}

// ContainerParameters is the editable part of analysis.json: what the
// later phases will do.
type ContainerParameters struct {
	ImageName string `json:"imageName"`
	ImageTag  string `json:"imageTag"`
	// BaseImage is "host" (build the app's own runtime from the host) or an
	// image reference such as eclipse-temurin:17-jre.
	BaseImage   string        `json:"baseImage"`
	Ports       []ExposedPort `json:"ports"`
	HealthCheck HealthCheck   `json:"healthCheck"`
	Include     []string      `json:"include"`
	Exclude     []string      `json:"exclude"`
	Env         []EnvOverride `json:"env"`
	User        string        `json:"user"`
	WorkingDir  string        `json:"workingDir"`
}

// Validate checks the values a hand edit can break and that every later
// phase relies on: the image's name and tag, the ports and the health
// check. The error names the field and what to use instead.
func (cp *ContainerParameters) Validate() error {
	var errs []string
	bad := func(field, format string, args ...any) {
		errs = append(errs, "containerParameters."+field+": "+fmt.Sprintf(format, args...))
	}
	if cp.ImageName != "" {
		const reg = "hoist.local/"
		r, err := reference.ParseNamed(reg + cp.ImageName)
		if err != nil || r.Name() != reg+cp.ImageName {
			bad("imageName", "%q is not an image name (use lower case letters, digits and '.', '_', '-' between them, '/' between path components; no tag)", cp.ImageName)
		}
	}
	if _, err := reference.WithTag(tagBase, cp.ImageTag); cp.ImageTag != "" && err != nil {
		bad("imageTag", "%q is not an image tag (up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-')", cp.ImageTag)
	}
	for i, p := range cp.Ports {
		if p.Port < 1 || p.Port > 65535 {
			bad(fmt.Sprintf("ports[%d].port", i), "%d is not a port (use 1 to 65535)", p.Port)
		}
		if p.Protocol != "tcp" && p.Protocol != "udp" {
			bad(fmt.Sprintf("ports[%d].protocol", i), "%q is not a protocol (use \"tcp\" or \"udp\")", p.Protocol)
		}
	}
	if hc := cp.HealthCheck; hc.Port < 0 || hc.Port > 65535 {
		bad("healthCheck.port", "%d is not a port (use 1 to 65535, or leave it out for the first TCP port)", hc.Port)
	}
	if hc := cp.HealthCheck; hc.Path != "" && !strings.HasPrefix(hc.Path, "/") {
		bad("healthCheck.path", "%q does not start with '/' (use an HTTP path such as /health, or leave it out for a TCP check)", hc.Path)
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// tagBase is any image name, for checking a tag on its own.
var tagBase, _ = reference.ParseNamed("hoist.local/app")

// ExposedPort is a port the container publishes.
type ExposedPort struct {
	Port     int    `json:"port"`
	Protocol string `json:"protocol"` // tcp or udp
}

// HealthCheck says how to tell the app is up.
type HealthCheck struct {
	Path string `json:"path,omitempty"` // HTTP path; empty means a TCP check
	Port int    `json:"port,omitempty"`
}

// EnvOverride sets or removes an environment variable in the container.
type EnvOverride struct {
	Name      string `json:"name"`
	Value     string `json:"value,omitempty"`
	SecretRef string `json:"secretRef,omitempty"`
	Remove    bool   `json:"remove,omitempty"`
}
