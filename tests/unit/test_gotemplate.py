"""docker's --format templates: the Go text/template subset (tui/cli/gotemplate.py)."""
import pytest

from tui.cli.gotemplate import TemplateError, render

DOC = {"Id": "abc", "Name": "/web", "State": {"Pid": 12, "Running": True, "Health": None, "ExitCode": 0},
       "Mounts": [{"Source": "/a", "Destination": "/b"}, {"Source": "/c", "Destination": "/d"}],
       "Config": {"Labels": {"k": "v", "a": "b"}, "Env": ["A=1", "B=2"], "Cmd": ["sleep", "1"]},
       "NetworkSettings": {"Networks": {}}}


@pytest.mark.parametrize("tpl,want", [
    ("{{.State.Pid}}", "12"),
    ("{{.Name}} is {{.State.Running}}", "/web is true"),
    ("{{json .Config.Cmd}}", '["sleep","1"]'),
    ("{{json .State.Health}}", "null"),
    ("{{range .Mounts}}{{.Source}}:{{.Destination}} {{end}}", "/a:/b /c:/d "),
    ("{{range $i, $m := .Mounts}}{{$i}}={{$m.Source}};{{end}}", "0=/a;1=/c;"),
    ("{{range .NetworkSettings.Networks}}x{{else}}none{{end}}", "none"),
    ("{{if .State.Running}}up{{else}}down{{end}}", "up"),
    ("{{if eq .State.ExitCode 1}}one{{else if eq .State.ExitCode 0}}zero{{end}}", "zero"),
    ("{{if and .State.Running (gt .State.Pid 3)}}ok{{end}}", "ok"),
    ("{{if not .State.Health}}no health{{end}}", "no health"),
    ("{{with .State}}{{.Pid}}{{end}}", "12"),
    ("{{index .Config.Labels \"k\"}}", "v"),
    ("{{(index .Mounts 1).Source}}", "/c"),
    ("{{join .Config.Env \",\"}}", "A=1,B=2"),
    ("{{.Name | upper}} {{lower \"AB\"}} {{len .Mounts}}", "/WEB ab 2"),
    ("{{printf \"%s-%d\" .Name .State.Pid}}", "/web-12"),
    ("{{.Nope}} {{.State.Health}} {{.Config.Env}} {{.Config.Labels}}", "<no value> <nil> [A=1 B=2] map[a:b k:v]"),
    ("a {{- .Id -}} b", "aabcb"),
    ("{{$p := .State.Pid}}{{$p}} {{$.Id}}", "12 abc"),
    ("{{/* a comment */}}x", "x"),
])
def test_renders_like_go(tpl, want):
    assert render(tpl, DOC) == want


@pytest.mark.parametrize("tpl", ["{{.Name", "{{if .X}}a", "{{end}}", "{{.Name | nosuch}}", "{{.Name.Deeper}}",
                                 "{{range .Mounts}}"])
def test_errors_are_template_errors(tpl):
    with pytest.raises(TemplateError):
        render(tpl, DOC)
