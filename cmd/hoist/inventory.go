package main

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/hoistctl/hoist/discover"
)

func inventoryCommand() *cli.Command {
	return &cli.Command{
		Name:  "inventory",
		Usage: "list the Java and .NET applications running on this host (writes inventory.json)",
		Description: `Scans every process and lists Tomcat/TomEE, Jetty, JBoss/WildFly, Spring Boot and
other Java apps, and .NET apps (dotnet, apphost executables, Mono and XSP). Each app
gets an ID derived from what it is (server base directory, jar, dll), stable across
restarts and reboots. Run as root to see every process's details.`,
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "pid", Usage: "print only the app that PID belongs to (inventory.json still lists every app)"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only app IDs, one per line"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageError{"inventory takes no arguments"}
			}
			g, err := globalsFrom(c)
			if err != nil {
				return err
			}
			g.logf("scanning processes in %s", g.host.Proc)
			inv, err := discover.Scan(c.Context, discover.ScanOptions{Host: g.host})
			if err != nil {
				return fmt.Errorf("taking the inventory: %w", err)
			}
			if err := g.workspace.WriteInventory(inv); err != nil {
				return err
			}
			for _, w := range inv.Warnings {
				fmt.Fprintln(g.stderr, "warning:", w)
			}
			if g.verbose {
				reasons := make([]string, 0, len(inv.Skipped))
				for r, n := range inv.Skipped {
					reasons = append(reasons, fmt.Sprintf("%s: %d", r, n))
				}
				sort.Strings(reasons)
				if len(reasons) > 0 {
					g.logf("processes skipped: %s", strings.Join(reasons, ", "))
				}
				g.logf("wrote %s", g.workspace.InventoryPath())
			}
			shown := *inv
			if pid := c.Int("pid"); pid != 0 {
				shown.Apps = nil
				for _, a := range inv.Apps {
					for _, p := range a.PIDs {
						if int(p) == pid {
							shown.Apps = append(shown.Apps, a)
						}
					}
				}
				if len(shown.Apps) == 0 {
					return fmt.Errorf("inventory: %w: pid %d is not part of any Java or .NET app found", discover.ErrNotFound, pid)
				}
			}
			if c.Bool("quiet") {
				for _, a := range shown.Apps {
					fmt.Fprintln(g.stdout, a.ID)
				}
				return nil
			}
			inv = &shown
			return render(g, inv, func(w *tabw) {
				fmt.Fprintln(w, "ID\tTYPE\tPID\tUSER\tPORTS\tPATH")
				for _, a := range inv.Apps {
					fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\t%s\n", a.ID, a.Type, a.PID, orDash(a.User), orDash(portList(a.Ports)), a.Path)
				}
				if len(inv.Apps) == 0 {
					fmt.Fprintln(w, "(no Java or .NET applications found)")
				}
			})
		},
	}
}

func portList(ports []discover.Port) string {
	var out []string
	seen := map[string]bool{}
	for _, p := range ports {
		s := strconv.Itoa(int(p.Port))
		if strings.HasPrefix(p.Protocol, "udp") {
			s += "/udp"
		}
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return strings.Join(out, ",")
}
