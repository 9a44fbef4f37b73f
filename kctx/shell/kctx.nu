# kctx shell integration for nushell. nu has no eval: save it where nu loads it from, in
# config.nu:
#     mkdir ($nu.data-dir | path join vendor/autoload)
#     kctx init nu | save -f ($nu.data-dir | path join vendor/autoload/kctx.nu)
# and put (kctx_prompt) in your PROMPT_COMMAND, or use `kctx init nu --ps1`.
#
# `kctx use|ns|off|unlock|lock` print one JSON record that the kctx command applies: load-env
# for what programs see (KUBECONFIG, KCTX_*), and this shell's own state in the record
# $env.__kctx, which nu passes to no program (so a child shell never mistakes it for its own).
# The pre_prompt hook keeps the segment current without forking: it compares the session file,
# read with `open --raw`, with what kctx wrote, and KUBECONFIG with what kctx set.

const __KCTX_SESSIONS_DIR = @SESSIONS_DIR@
const __KCTX_WARN_PRE = @WARN_PRE@
const __KCTX_WARN_POST = @WARN_POST@
const __KCTX_NS_SLOT = @NS_SLOT@

# How to start kctx: its Python with -I -S and kctx's folders on sys.path when `kctx init`
# could see them (no site scan, no `import re` of a console script: ~13 ms less per use),
# else the kctx command.
const __KCTX_CMD = @CMD@
const __KCTX_EVALUATED = @EVALUATED@

# kctx's answers for Tab: click's fish protocol, made into nu's records.
def __kctx_complete [spans: list<string>] {
    let out = (with-env {
        _KCTX_COMPLETE: fish_complete
        COMP_WORDS: ($spans | str join ' ')
        COMP_CWORD: ($spans | last)
    } { ^($__KCTX_CMD | first) ...($__KCTX_CMD | skip 1) | complete })
    if $out.exit_code != 0 { return null }
    let items = ($out.stdout | lines | where {|l| $l != '' } | each {|l|
        let kind = ($l | split row -n 2 ',')
        let rest = ($kind | get 1? | default '' | split row -n 2 "\t")
        {kind: $kind.0, value: $rest.0, description: ($rest | get 1? | default '')}
    })
    if ($items | any {|i| $i.kind != 'plain' }) { return null }  # files: nu's own completion
    $items | select value description
}

@complete __kctx_complete
def --env --wrapped kctx [...args: string] {
    if ($args | is-empty) or ($args.0 not-in $__KCTX_EVALUATED) {
        ^($__KCTX_CMD | first) ...($__KCTX_CMD | skip 1) ...$args  # its output is the result
    } else {
        let st = ($env.__kctx? | default {})
        let out = (with-env {
            KCTX_SHELL: nu
            KCTX_SHELL_PID: ($nu.pid | into string)
            KCTX_SESSION: ($st.session? | default '')
            KCTX_PREVIOUS: ($st.prev_entry? | default '')
            KCTX_PREVIOUS_NS: ($st.prev_ns? | default '')
        } { ^($__KCTX_CMD | first) ...($__KCTX_CMD | skip 1) ...$args })
        if ($out | str trim | is-not-empty) {  # (--help and friends print nothing to apply)
            __kctx_apply ($out | from json)
        }
    }
}

# Apply kctx's record: {env, unset, state, print, call} (data only, nothing in it runs).
def --env __kctx_apply [r: record] {
    if ($r.env | is-not-empty) { load-env $r.env }
    for name in $r.unset { hide-env -i $name }
    $env.__kctx = (($env.__kctx? | default {}) | merge $r.state)
    for line in $r.print { print $line }
    if ('__kctx_refresh' in $r.call) { __kctx_refresh }
}

# Show a drift reason instead of the target: the target is not what kctx set.
def --env __kctx_warn [reason: string] {
    $env.__kctx.ps1 = $"($__KCTX_WARN_PRE)($reason)($__KCTX_WARN_POST) "
}

# The session file no longer holds what kctx wrote (kubectl config set-context, use-context):
# read the real context and namespace from kubectl's YAML with builtins only.
def --env __kctx_drift [c: string]: nothing -> bool {
    if $c == '' {
        __kctx_warn 'session file gone'
        return false
    }
    let st = $env.__kctx
    if ($st.entry? | default '') == '' {
        __kctx_warn 'session changed'
        return false
    }
    let cc = ($c | parse --regex r#'(?m)^current-context: ['"]?(?P<c>[A-Za-z0-9][A-Za-z0-9._-]*)['"]?$'#)
    let n = ($c | parse --regex r#'(?m)^(?P<m>- context:)'# | length)
    if ($cc | length) != 1 or $cc.0.c != $st.entry or $n != 1 {
        __kctx_warn 'context changed'
        return false
    }
    let nss = ($c | parse --regex r#'(?m)^    namespace: ['"]?(?P<ns>[^'"\n]*)['"]?$'#)
    let ns = if ($nss | length) == 1 { $nss.0.ns } else { 'default' }
    if ($nss | length) > 1 or not ($ns =~ r#'^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$'#) {
        __kctx_warn 'namespace changed'
        return false
    }
    let before = ($env.KCTX_NAMESPACE? | default '')
    if $ns != $before { $env.__kctx.prev_ns = $before }
    $env.__kctx.content = $c
    $env.__kctx.seg = ($st.tmpl | str replace -a $__KCTX_NS_SLOT $ns)
    $env.KCTX_NAMESPACE = $ns
    true
}

def --env __kctx_refresh [] {
    $env.__kctx = ($env.__kctx? | default {} | upsert ps1 '')
    let kc = ($env.__kctx.kubeconfig? | default '')
    if $kc == '' { return }
    if ($env.KUBECONFIG? | default '') != $kc {
        __kctx_warn 'KUBECONFIG changed'
        return
    }
    let session = ($env.__kctx.session? | default '')
    let c = if $session != '' and ($session | path type) == 'file' {
        try { open --raw $session | into string } catch { '' }
    } else { '' }
    if $c != ($env.__kctx.content? | default '') {
        if not (__kctx_drift $c) { return }
    }
    let st = $env.__kctx
    if ($st.entry? | default '') == '' { return }
    if not ($st.entry_file | path exists) {
        __kctx_warn $"entry ($st.entry) removed"
        return
    }
    let now = ((date now | into int) // 1_000_000_000)
    let unlocked = (($st.unlock_until? | default '0' | into int) > $now)
    # The API guard of this shell: its pid is the first word of <session>.guard, alive while
    # /proc has it (builtins only). The file is read only when the pid read before is gone from
    # /proc. Down, every client fails until kctx or k restarts it.
    let guard = ($st.guard? | default '')
    let known = ($st.guard_pid? | default '')
    let g = if $guard == '' { '' } else if $known != '' and ($"/proc/($known)" | path exists) { $known } else {
        let g = (try { open --raw $guard | into string | split row ' ' | first } catch { '' })
        if $g == '' or (('/proc/self' | path exists) and not ($"/proc/($g)" | path exists)) { '' } else { $g }
    }
    if $g != $known { $env.__kctx = ($env.__kctx | upsert guard_pid $g) }
    let marker = if $guard == '' { '' } else if $g == '' {
        $" ($__KCTX_WARN_PRE)guard down($__KCTX_WARN_POST)"
    } else { $st.guard_ind? | default '' }
    $env.__kctx.ps1 = $"($st.seg? | default '')(if $unlocked { $st.unlock_ind } else { '' })($marker) "
}

# The segment for your PROMPT_COMMAND, e.g. ⎈ prod:payments (kept current by the hook).
def kctx_prompt []: nothing -> string {
    $env.__kctx?.ps1? | default ''
}

# [directories]
# shell.directories: the .kctx file nearest $env.PWD ('' for none; builtins only). kctx runs only
# when that file differs from the one found before, so a `kctx use` inside the folder holds
# until the shell enters another; a script's cd changes nothing (no prompt).
def __kctx_dir_find []: nothing -> string {
    mut d = $env.PWD
    mut found = ''
    while true {
        let f = ($d | path join '.kctx')
        if ($f | path type) == 'file' {
            $found = $f
            break
        }
        let up = ($d | path dirname)
        if $up == $d or $up == '' { break }
        $d = $up
    }
    $found
}

def --env __kctx_dir_changed [] {
    let found = (__kctx_dir_find)
    $env.__kctx = ($env.__kctx? | default {} | upsert pwd $env.PWD)
    if $found == ($env.__kctx.dir_file? | default '') { return }
    $env.__kctx = ($env.__kctx | upsert dir_file $found)
    if $found != '' {
        let rc = ($env.LAST_EXIT_CODE? | default 0)
        try { kctx _dir $found }
        $env.LAST_EXIT_CODE = $rc  # the status of the user's command, not of kctx's refusal
    }
}
# [/directories]

# kctx use names the files that decide the tier in force (the configuration, the store's index,
# the team policy files): true when one is newer than this shell's stamp. The hook then takes the
# same target again, as a `kctx use` would now (guarded when the entry became protected).
def __kctx_tiers_changed []: nothing -> bool {
    let st = ($env.__kctx? | default {})
    let files = ($st.tier_files? | default [])
    if ($st.entry? | default '') == '' or ($files | is-empty) { return false }
    let stamp = (try { ls -D $st.tiers_stamp | get 0.modified } catch { return false })
    $files | any {|f| try { (ls -D $f | get 0.modified) > $stamp } catch { false } }
}

def --env __kctx_hook [] {
    if (__kctx_tiers_changed) {
        try { '' | save -f $env.__kctx.tiers_stamp }  # once per change, even if the refresh fails
        kctx _adopt
    }
# [directories]
    if $env.PWD != ($env.__kctx?.pwd? | default '') { __kctx_dir_changed }
# [/directories]
    __kctx_refresh
}

# nu has no exit hook: the session file of a shell that is gone is removed by the next kctx
# command's sweep (session files are named after their shell's process id).

# A shell that inherited a target (a child of a kctx shell, a tmux pane) takes its own session,
# so that `kubectl config set-context` here cannot change the parent's target.
def --env __kctx_adopt_if_inherited [] {
    if ($env.__kctx?.session? | default '') != '' { return }
    let kc = ($env.KUBECONFIG? | default '')
    if ($env.KCTX_CONTEXT? | default '') != '' or ($kc | str starts-with $"($__KCTX_SESSIONS_DIR)/") {
        kctx _adopt
# [directories]
        # the target inherited holds in this folder: a folder's file acts on entering
        $env.__kctx = ($env.__kctx? | default {} | upsert pwd $env.PWD | upsert dir_file (__kctx_dir_find))
# [/directories]
# [start-last]
    } else {
        kctx _start  # config shell.start: last
# [/start-last]
    }
}

# The hook goes first, once (a second `kctx init nu` replaces it).
$env.config.hooks.pre_prompt = (
    [{|| __kctx_hook }]
    | append ($env.config.hooks.pre_prompt? | default [] | where {|h|
        ($h | describe) != 'closure' or (view source $h) !~ '__kctx_hook' })
)

@K_FUNCTION@
# [kubectl]
# The word kubectl goes through the guard: the `k` function (its fast path). nu loads this file
# in interactive shells.
def --env --wrapped kubectl [...args: string] {
    k ...$args
}
# [/kubectl]
# [ps1]
if ($env.__kctx?.prompt_before? | default null) == null {
    # (merge, not upsert: upsert would run a closure and keep its result)
    $env.__kctx = ($env.__kctx? | default {} | merge {prompt_before: ($env.PROMPT_COMMAND? | default '')})
    $env.PROMPT_COMMAND = {||
        let before = ($env.__kctx?.prompt_before? | default '')
        $"(kctx_prompt)(if ($before | describe) == 'closure' { do $before } else { $before })"
    }
}
# [/ps1]

__kctx_adopt_if_inherited
