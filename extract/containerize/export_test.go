package containerize

// Helpers of the internal tests, for the external ones (which may import
// packages that import this one, such as deploy/push).
var (
	RunSample            = runSample
	AnalyzeAndExtract    = analyzeAndExtract
	BuildEntry           = buildEntry
	Get                  = get
	ImageConfig          = imageConfig
	ContainerdClient     = containerdClient
	ReadArchivedAnalysis = readArchivedAnalysis
)
