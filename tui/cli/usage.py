"""docker's answers to a command line that does not parse, in place of
argparse's ("usage: ... error: ...", exit 2). docker's CLI is cobra and
pflag, set up in docker/cli's cli/cobra.go (FlagErrorFunc), cli/required.go
(the arguments' checks) and cmd/docker/docker.go (unknown commands):

- a flag pflag cannot take (unknown, missing its value, a value it cannot
  read): pflag's message, the command's usage line, exit 125;
- too few or too many arguments: "dockyard: 'dockyard run' requires at
  least 1 argument", the usage line, exit 1 (a plain error in docker);
- an unknown command: "dockyard: unknown command: dockyard x", exit 1;
- a command that groups others, alone (`dockyard image`): its help, on
  stderr, exit 0.

Loaded only with the parsers (tui/cli/parser.py), so it may import argparse."""
import argparse

FLAG_ERROR = 125  # cobra's FlagErrorFunc: a StatusError of 125
ARGS_ERROR = 1  # the arguments' checks and the unknown command: plain errors, exit 1
MANY = float("inf")


def go_quote(s: str) -> str:
    """Go's %q of a string, for the common case (docker quotes values so)."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def flag_name(action) -> str:
    """pflag's name of a flag in its errors: "-t, --time", or "--name"."""
    shorts = [o for o in action.option_strings if len(o) == 2 and o[1] != "-"]
    longs = [o for o in action.option_strings if o.startswith("--")]
    if shorts and longs:
        return f"{shorts[0]}, {longs[0]}"
    return (longs or shorts or [action.dest])[0]


def _takes_value(action) -> bool:
    return action.nargs != 0


# strconv.ParseBool's words: pflag takes them as a switch's value (--rm=false, -d=true)
_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")
_GO_PARSERS = {"int": "strconv.ParseInt", "float": "strconv.ParseFloat", "bool": "strconv.ParseBool"}


class DockerUsage:
    """Mixed into the command line's ArgumentParser (and so its subparsers):
    each parser reports its own errors, with its own prog as the command path
    ("dockyard container ls")."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)  # pflag takes no prefixes: --na is not --name
        kwargs.setdefault("exit_on_error", False)  # argparse's ArgumentErrors come to parse_known_args
        super().__init__(*args, **kwargs)

    # ------------------------------------------------------------ what docker says

    def use_line(self) -> str:
        """cobra's UseLine, as docker writes its commands' Use: "dockyard rm
        [OPTIONS] CONTAINER [CONTAINER...]"."""
        parts = [self.prog]
        if any(a.option_strings and not isinstance(a, argparse._HelpAction) for a in self._actions):
            parts.append("[OPTIONS]")
        for a in self._get_positional_actions():
            if isinstance(a, argparse._SubParsersAction):
                parts.append("COMMAND" if " " in self.prog else "COMMAND [ARG...]")
                continue
            name = a.metavar or a.dest.upper()
            if a.nargs == argparse.REMAINDER:
                parts.append("[COMMAND] [ARG...]" if a.dest == "command" else "[ARG...]")
            elif a.nargs == argparse.OPTIONAL:
                parts.append(f"[{name}]")
            elif a.nargs == argparse.ZERO_OR_MORE:
                parts.append(f"[{name}...]")
            elif a.nargs == argparse.ONE_OR_MORE:
                parts.append(f"{name} [{name}...]")
            else:
                parts.extend([name] * (a.nargs if isinstance(a.nargs, int) else 1))
        return " ".join(parts)

    def flag_error(self, message: str):
        """cli/cobra.go's FlagErrorFunc."""
        self.exit(FLAG_ERROR, f"{message}\n\nUsage:  {self.use_line()}\n\n"
                              f"Run '{self.prog} --help' for more information\n")

    def args_error(self):
        """cli/required.go: NoArgs, RequiresMinArgs, RequiresMaxArgs,
        RequiresRangeArgs, ExactArgs (which one: from the positionals)."""
        low, high = self._arity()
        path, binary = self.prog, self.prog.split()[0]

        def plural(n):
            return "argument" if n == 1 else "arguments"
        hint = "Run"
        if high == 0:
            what = "accepts no arguments"
        elif low == high:
            what = f"requires {low} {plural(low)}"
        elif high == MANY:
            what, hint = f"requires at least {low} {plural(low)}", "See"
        elif low == 0:
            what = f"requires at most {high} {plural(high)}"
        else:
            what = f"requires at least {low} and at most {high} {plural(high)}"
        self.exit(ARGS_ERROR, f"{binary}: '{path}' {what}\n\nUsage:  {self.use_line()}\n\n"
                              f"{hint} '{path} --help' for more information\n")

    def unknown_command(self, word: str):
        """cmd/docker/docker.go (the top level) and cli/required.go's NoArgs
        (a command that groups others)."""
        binary = self.prog.split()[0]
        usage = f"\n\nUsage:  {self.use_line()}" if " " in self.prog else ""
        self.exit(ARGS_ERROR, f"{binary}: unknown command: {self.prog} {word}{usage}\n\n"
                              f"Run '{self.prog} --help' for more information\n")

    def _arity(self) -> tuple[float, float]:
        low = high = 0
        for a in self._get_positional_actions():
            if isinstance(a, argparse._SubParsersAction):
                continue
            n = {None: (1, 1), argparse.OPTIONAL: (0, 1), argparse.ZERO_OR_MORE: (0, MANY),
                 argparse.ONE_OR_MORE: (1, MANY), argparse.REMAINDER: (0, MANY)}.get(a.nargs)
            if n is None:
                n = (a.nargs, a.nargs) if isinstance(a.nargs, int) else (1, MANY)
            low, high = low + n[0], high + n[1]
        return low, high

    def _first_bad_flag(self, tokens: list[str]) -> str | None:
        """pflag's complaint about the first flag in tokens it cannot take, read
        as pflag reads them: "--name=v", "--name v", "-itz" (each letter a
        flag, until one that takes a value: the rest is its value)."""
        known = self._option_string_actions
        groups = any(isinstance(a, argparse._SubParsersAction) for a in self._actions)
        i = 0
        while i < len(tokens):
            t = tokens[i]
            i += 1
            if t == "--":
                return None
            if not t.startswith("-") or t == "-" or self._negative_number_matcher.match(t):
                if groups:  # the command's word: what follows is that command's
                    return None
                continue
            if t.startswith("--"):
                name, eq, value = t.partition("=")
                action = known.get(name)
                if action is None:
                    return f"unknown flag: {name}"
                if eq and not _takes_value(action) and value not in _TRUE and value not in _FALSE:
                    return (f"invalid argument {go_quote(value)} for {go_quote(flag_name(action))} flag: "
                            f"strconv.ParseBool: parsing {go_quote(value)}: invalid syntax")
                if not eq and action.nargs is None:
                    i += 1  # its value
                continue
            for j, c in enumerate(t[1:], 1):
                action = known.get("-" + c)
                if action is None:
                    return f"unknown shorthand flag: '{c}' in {t}"
                if t[j + 1:j + 2] == "=" and not _takes_value(action):  # -d=false
                    value = t[j + 2:]
                    if value in _TRUE or value in _FALSE:
                        break
                    return (f"invalid argument {go_quote(value)} for {go_quote(flag_name(action))} flag: "
                            f"strconv.ParseBool: parsing {go_quote(value)}: invalid syntax")
                if _takes_value(action):
                    if j == len(t) - 1 and action.nargs is None:
                        i += 1  # its value is the next word
                    break
        return None

    def _spelled(self, action) -> str:
        """How the user named a flag that lacks its value, as pflag says it:
        "--name", or "'e' in -ie"."""
        for t in getattr(self, "_argv", ()):
            if t == "--":
                break
            if t in action.option_strings and t.startswith("--"):
                return t
            if t.startswith("-") and not t.startswith("--") and len(t) > 1:
                for j, c in enumerate(t[1:], 1):
                    a = self._option_string_actions.get("-" + c)
                    if a is None:
                        break
                    if _takes_value(a):
                        if a is action and j == len(t) - 1:
                            return f"'{c}' in {t}"
                        break
        return flag_name(action).split(", ")[-1]

    # ------------------------------------------------------------ argparse's hooks

    def parse_known_args(self, args=None, namespace=None):
        import sys
        self._argv = list(sys.argv[1:] if args is None else args)
        try:
            namespace, extras = super().parse_known_args(self._argv, namespace)
        except argparse.ArgumentError as e:  # what the hooks below did not turn into docker's answer
            self.flag_error(self._first_bad_flag(self._argv) or str(e))
        if extras:
            # Each parser checks its own leftovers (argparse would hand a
            # subcommand's up to the top level and blame it): an unknown
            # flag (pflag's error comes first), or words past the positionals.
            flags = extras[:extras.index("--")] if "--" in extras else extras
            if any(x.startswith("-") and x != "-" for x in flags):
                self.flag_error(self._first_bad_flag(extras) or f"unknown flag: {extras[0]}")
            self.args_error()
        return namespace, extras

    def error(self, message: str):
        # argparse's remaining errors come as text: mainly the arguments that
        # are required (pflag would have complained of a bad flag first).
        bad = self._first_bad_flag(getattr(self, "_argv", []))
        if bad:
            self.flag_error(bad)
        if message.startswith("the following arguments are required"):
            if any(isinstance(a, argparse._SubParsersAction) for a in self._actions):
                import sys
                self.print_help(sys.stderr)  # docker's command.ShowHelp: `docker image` alone
                self.exit(0)
            self.args_error()
        self.flag_error(message)

    def _parse_optional(self, arg_string):
        got = super()._parse_optional(arg_string)
        if got and got[0] is not None and got[2] is not None and "=" in arg_string \
                and isinstance(got[0], argparse._StoreConstAction) and isinstance(got[0].const, bool):
            action, option_string, value = got
            if value in _TRUE:
                return action, option_string, None
            if value in _FALSE:  # the switch's other state, for this one time
                return argparse._StoreConstAction(action.option_strings, action.dest, const=not action.const,
                                                  default=action.default), option_string, None
        return got

    def _match_argument(self, action, arg_strings_pattern):
        try:
            return super()._match_argument(action, arg_strings_pattern)
        except argparse.ArgumentError:
            if not action.option_strings:
                raise
            self.flag_error(f"flag needs an argument: {self._spelled(action)}")

    def _get_value(self, action, arg_string):
        try:
            return super()._get_value(action, arg_string)
        except argparse.ArgumentError as e:
            if not action.option_strings:
                raise
            kind = getattr(action.type, "__name__", "")
            cause = (f"{_GO_PARSERS[kind]}: parsing {go_quote(arg_string)}: invalid syntax"
                     if kind in _GO_PARSERS else e.message)
            self.flag_error(f"invalid argument {go_quote(arg_string)} for {go_quote(flag_name(action))} flag: {cause}")

    def _check_value(self, action, value):
        if action.choices is None or value in action.choices:
            return
        if isinstance(action, argparse._SubParsersAction):
            self.unknown_command(value)
        if not action.option_strings:
            super()._check_value(action, value)
        self.flag_error(f"invalid argument {go_quote(str(value))} for {go_quote(flag_name(action))} flag: "
                        f"must be one of {', '.join(map(str, action.choices))}")
