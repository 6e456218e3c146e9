package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/hoistctl/hoist/discover"
)

const bashCompletion = `# hoist bash completion: source <(hoist completion bash)
_hoist_complete() {
  local cur opts
  COMPREPLY=()
  cur="${COMP_WORDS[COMP_CWORD]}"
  if [[ "$cur" == "-"* ]]; then
    opts=$("${COMP_WORDS[@]:0:$COMP_CWORD}" "$cur" --generate-bash-completion 2>/dev/null)
  else
    opts=$("${COMP_WORDS[@]:0:$COMP_CWORD}" --generate-bash-completion 2>/dev/null)
  fi
  COMPREPLY=($(compgen -W "${opts}" -- "${cur}"))
  return 0
}
complete -o bashdefault -o default -F _hoist_complete hoist
`

const zshCompletion = `#compdef hoist
# hoist zsh completion: source <(hoist completion zsh)
_hoist() {
  local -a opts
  opts=("${(@f)$(${words[@]:0:#words[@]-1} --generate-bash-completion 2>/dev/null)}")
  _describe 'values' opts
}
compdef _hoist hoist
`

func completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script (bash, zsh or fish)",
		ArgsUsage: "bash|zsh|fish",
		Action: func(c *cli.Context) error {
			shell, err := oneArg(c, "shell name")
			if err != nil {
				return err
			}
			switch shell {
			case "bash":
				_, err = fmt.Fprint(c.App.Writer, bashCompletion)
			case "zsh":
				_, err = fmt.Fprint(c.App.Writer, zshCompletion)
			case "fish":
				var s string
				if s, err = c.App.ToFishCompletion(); err == nil {
					_, err = fmt.Fprint(c.App.Writer, s)
				}
			default:
				return usageError{fmt.Sprintf("completion: unknown shell %q: use bash, zsh or fish", shell)}
			}
			return err
		},
	}
}

// completeAppIDs offers the IDs in the workspace's inventory.json.
func completeAppIDs(c *cli.Context) {
	if c.NArg() > 0 {
		return
	}
	inv, err := discover.Workspace{Dir: c.String("workspace")}.ReadInventory()
	if err != nil {
		return
	}
	for _, a := range inv.Apps {
		fmt.Fprintln(c.App.Writer, a.ID)
	}
}
