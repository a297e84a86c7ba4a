package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/aima-dev/aima/agent/daemon"
	"github.com/aima-dev/aima/agent/unit"
	"github.com/aima-dev/aima/state"
)

func newValidateCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "validate [PATH]",
		Short: "Check files against the schemas (default: the whole state directory)",
		Long: "Validate checks object files: a state directory, a kind directory in it (services/), or single files.\n" +
			"A state directory's settings are checked too: aima.yaml, and .local/settings.yaml and .local/policy.yaml\n" +
			"when they exist (aima start refuses to run with any of them invalid).\n" +
			"Each problem is printed as FILE:LINE:COLUMN: FIELD: MESSAGE. The exit code is 1 when any file is invalid.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			root := ""
			if len(args) == 1 {
				root = args[0]
			} else {
				st, err := g.store()
				if err != nil {
					return err
				}
				root = st.Dir
			}
			files, err := objectFiles(root)
			if err != nil {
				return err
			}
			// Files of a state directory are checked by its store, as every
			// door checks them: schema, references, and its local policy.
			st, err := storeOf(root)
			if err != nil {
				return err
			}
			bad := 0
			for _, f := range files {
				err := f.problem
				switch {
				case err != nil:
				case f.check != nil:
					err = f.check()
				default:
					err = validateFile(st, f.abs, f.rel, f.kind)
				}
				if err != nil {
					bad++
					fmt.Fprintln(cmd.ErrOrStderr(), fieldError(err))
				}
			}
			if bad > 0 {
				return exitError{code: 1, msg: fmt.Sprintf("%d of %d files invalid", bad, len(files))}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d files valid\n", len(files))
			return nil
		},
	}
}

type objectFile struct {
	abs, rel string
	kind     *state.Kind
	problem  error        // found without reading (a kind directory that is a link)
	check    func() error // a settings file: checked by the store that reads it
}

// objectFiles finds the object files under root: a state directory (with
// its settings files), a kind directory, or one file (whose kind comes from
// its parent directory, or a settings file).
func objectFiles(root string) ([]objectFile, error) {
	fi, err := os.Stat(root)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		if f, ok := settingsFile(root); ok {
			return []objectFile{f}, nil
		}
		rel := filepath.Base(filepath.Dir(root)) + "/" + filepath.Base(root)
		k, _, ok := state.KindOfPath(rel)
		if !ok {
			return nil, fmt.Errorf("%s: cannot tell the kind; the file must be in a kind directory (models/, services/, ...)", root)
		}
		return []objectFile{{abs: root, rel: rel, kind: k}}, nil
	}
	if k, err := state.LookupKind(filepath.Base(root)); err == nil {
		return kindFiles(root, k)
	}
	out, err := settingsFiles(root)
	if err != nil {
		return nil, err
	}
	for _, k := range state.Kinds {
		// A kind directory that is a link is reported, never followed.
		if err := state.CheckKindDir(filepath.Join(root, k.Dir), k.Dir); err != nil {
			out = append(out, objectFile{abs: filepath.Join(root, k.Dir), rel: k.Dir, kind: k, problem: err})
			continue
		}
		fs, err := kindFiles(filepath.Join(root, k.Dir), k)
		if err != nil {
			return nil, err
		}
		out = append(out, fs...)
	}
	return out, nil
}

// settingsPaths are the files of a state directory that are not objects
// but that aima start reads (and refuses to run with when invalid).
var settingsPaths = []string{"aima.yaml", state.LocalSettingsPath, state.PolicyPath}

// settingsFiles lists the settings files that exist in the state directory
// dir, each checked the way the agent reads it.
func settingsFiles(dir string) ([]objectFile, error) {
	st, err := state.Open(dir)
	if err != nil {
		return nil, err
	}
	var out []objectFile
	for _, rel := range settingsPaths {
		abs := filepath.Join(dir, filepath.FromSlash(rel))
		if _, err := os.Lstat(abs); err != nil {
			continue
		}
		f := objectFile{abs: abs, rel: rel}
		switch rel {
		case "aima.yaml":
			f.check = func() error { _, err := st.Settings(); return err }
		case state.LocalSettingsPath:
			f.check = func() error { _, err := st.LocalSettings(); return err }
		case state.PolicyPath:
			f.check = func() error { _, err := st.Policy(); return err }
		}
		out = append(out, f)
	}
	return out, nil
}

// settingsFile is path when it is one of a state directory's settings
// files (aima.yaml, .local/settings.yaml, .local/policy.yaml).
func settingsFile(path string) (objectFile, bool) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return objectFile{}, false
	}
	for _, rel := range settingsPaths {
		suffix := string(filepath.Separator) + filepath.FromSlash(rel)
		if dir, ok := strings.CutSuffix(abs, suffix); ok {
			fs, err := settingsFiles(dir)
			if err != nil {
				return objectFile{}, false
			}
			for _, f := range fs {
				if f.rel == rel {
					return f, true
				}
			}
		}
	}
	return objectFile{}, false
}

func kindFiles(dir string, k *state.Kind) ([]objectFile, error) {
	des, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []objectFile
	for _, de := range des {
		if de.IsDir() || strings.HasPrefix(de.Name(), ".") || !strings.HasSuffix(de.Name(), k.Ext) {
			continue
		}
		out = append(out, objectFile{abs: filepath.Join(dir, de.Name()), rel: k.Dir + "/" + de.Name(), kind: k})
	}
	return out, nil
}

// storeOf is the store of the state directory path is in (the directory,
// a kind directory of it, or a file in one), opened as every door opens it;
// nil for files outside any state directory.
func storeOf(path string) (*state.Store, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	for dir, i := abs, 0; i < 3; dir, i = filepath.Dir(dir), i+1 {
		if _, err := os.Lstat(filepath.Join(dir, "aima.yaml")); err == nil {
			return daemon.OpenStore(dir)
		}
	}
	return nil, nil
}

func validateFile(st *state.Store, abs, rel string, k *state.Kind) error {
	b, err := state.ReadPlainFile(abs, rel) // a link is invalid, never followed
	if err != nil {
		return err
	}
	_, stem, _ := state.KindOfPath(rel)
	if err := state.CheckName(rel, stem); err != nil {
		return err
	}
	if st != nil {
		_, err = st.Decode(k, rel, b)
		return err
	}
	// Outside a state directory: no policy to apply; steps' units are
	// still checked against the registry.
	_, err = k.DecodeWith(rel, b, unit.Default.Has)
	return err
}
