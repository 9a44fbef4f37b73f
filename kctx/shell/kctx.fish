# kctx shell integration for fish. Load it from ~/.config/fish/config.fish with:
#     kctx init fish | source
# and call kctx_prompt in your fish_prompt, or use `kctx init fish --ps1`.
#
# `kctx use|ns|off|unlock|lock` print fish code that this function evaluates when they succeed.
# The prompt hook keeps KCTX_PS1 current without forking: it compares the session file, read
# with the `read` builtin, with what kctx wrote, and KUBECONFIG with what kctx set.

set -g __kctx_sessions_dir @SESSIONS_DIR@
set -g __kctx_warn_pre @WARN_PRE@
set -g __kctx_warn_post @WARN_POST@
set -g __kctx_ns_slot @NS_SLOT@

# How to start kctx: its Python with -I -S and kctx's folders on sys.path when `kctx init`
# could see them (no site scan, no `import re` of a console script: ~13 ms less per use),
# else the kctx command.
set -g __kctx_cmd @CMD@

function kctx --description 'kctx: a kubeconfig per cluster, a target per shell'
    switch "$argv[1]"
        case @EVALUATED@
            set -l __kctx_out ''
            KCTX_SHELL=fish KCTX_SHELL_PID=$fish_pid KCTX_SESSION="$__kctx_session" \
                KCTX_PREVIOUS="$__kctx_prev_entry" KCTX_PREVIOUS_NS="$__kctx_prev_ns" \
                command $__kctx_cmd $argv | read -z __kctx_out
            set -l __kctx_rc $pipestatus[1]
            test $__kctx_rc -eq 0; or return $__kctx_rc
            printf '%s' $__kctx_out | source
        case '*'
            command $__kctx_cmd $argv
    end
end

# Show a drift reason instead of the target: the target is not what kctx set.
function __kctx_warn
    set -g KCTX_PS1 "$__kctx_warn_pre$argv[1]$__kctx_warn_post "
end

# The session file no longer holds what kctx wrote (kubectl config set-context, use-context):
# read the real context and namespace from kubectl's YAML with builtins only.
function __kctx_drift
    set -l c $argv[1]
    if test -z "$c"
        __kctx_warn 'session file gone'
        return 1
    end
    if test -z "$__kctx_entry"
        __kctx_warn 'session changed'
        return 1
    end
    set -l cc (string match -r -g '(?m)^current-context: [\'"]?([A-Za-z0-9][A-Za-z0-9._-]*)[\'"]?$' -- $c)
    set -l n (string match -r -a '(?m)^- context:' -- $c | count)
    if test "$cc" != "$__kctx_entry" -o "$n" != 1
        __kctx_warn 'context changed'
        return 1
    end
    set -l nss (string match -r -a -g '(?m)^    namespace: [\'"]?([^\'"\n]*)[\'"]?$' -- $c)
    set -l ns default
    if test (count $nss) -gt 1
        __kctx_warn 'namespace changed'
        return 1
    else if test (count $nss) -eq 1
        set ns $nss[1]
    end
    if not string match -q -r '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$' -- $ns
        __kctx_warn 'namespace changed'
        return 1
    end
    test "$ns" = "$KCTX_NAMESPACE"; or set -g __kctx_prev_ns "$KCTX_NAMESPACE"
    set -g __kctx_content $c
    set -g __kctx_seg (string replace -a -- $__kctx_ns_slot $ns $__kctx_tmpl)
    set -gx KCTX_NAMESPACE $ns
end

function __kctx_refresh
    set -g KCTX_PS1 ''
    test -n "$__kctx_kubeconfig"; or return 0
    if test "$KUBECONFIG" != "$__kctx_kubeconfig"
        __kctx_warn 'KUBECONFIG changed'
        return 0
    end
    # Older than its stamp <session>.written, the session file holds what kctx wrote: two dates
    # compared instead of the file read (kctx.session.write_session). Else it is read, and
    # checked against what kctx wrote.
    if not test -f "$__kctx_session"; or not test "$__kctx_session" -ot "$__kctx_session"@WRITTEN@
        set -l c ''
        test -f "$__kctx_session"; and read -z c <$__kctx_session
        if test "$c" != "$__kctx_content"
            __kctx_drift "$c"; or return 0
        end
    end
    test -n "$__kctx_entry"; or return 0
    if not test -e "$__kctx_entry_file"
        __kctx_warn "entry $__kctx_entry removed"
        return 0
    end
    # fish cannot read the clock without forking: the indicator says until when instead.
    # The API guard of this shell: its pid is the first word of <session>.guard (fish has no kill
    # builtin: /proc tells, where there is one). The file is read only when the pid read before is
    # gone from /proc. Down, every client fails until kctx or k restarts it.
    set -l down ''
    if test -n "$__kctx_guard"
        if test -z "$__kctx_guard_pid"; or not test -d /proc/$__kctx_guard_pid
            set -l g ''
            test -r "$__kctx_guard"; and read -l g rest <$__kctx_guard
            if test -n "$g"; and begin; not test -d /proc/self; or test -d /proc/$g; end
                set -g __kctx_guard_pid $g
            else
                set -g __kctx_guard_pid ''
            end
        end
        if test -n "$__kctx_guard_pid"
            set down "$__kctx_guard_ind"
        else
            set down " $__kctx_warn_pre"'guard down'"$__kctx_warn_post"
        end
    end
    if test "$__kctx_unlock_until" -gt 0 2>/dev/null
        set -g KCTX_PS1 "$__kctx_seg$__kctx_unlock_ind$down "
    else
        set -g KCTX_PS1 "$__kctx_seg$down "
    end
    return 0
end

function kctx_prompt --description 'the kctx prompt segment, e.g. ⎈ prod:payments'
    set -l s $status
    __kctx_refresh
    printf '%s' $KCTX_PS1
    return $s
end

# [directories]
# shell.directories: the .kctx file nearest $PWD, into __kctx_found (builtins only). kctx runs
# only when that file differs from the one found before, so a `kctx use` inside the folder
# holds until the shell enters another; a script's cd changes nothing (no prompt).
function __kctx_dir_find
    set -g __kctx_found ''
    set -l d $PWD
    while true
        if test -f "$d/.kctx"
            set -g __kctx_found "$d/.kctx"
            return 0
        end
        if test -z "$d" -o "$d" = /
            return 0
        end
        set d (string replace -r -- '/[^/]*$' '' $d)
    end
end

function __kctx_dir_changed
    set -g __kctx_pwd $PWD
    __kctx_dir_find
    test "$__kctx_found" != "$__kctx_dir_file"; or return 0
    set -g __kctx_dir_file $__kctx_found
    test -z "$__kctx_found"; or kctx _dir $__kctx_found
end
# [/directories]

# kctx use redefines this: true when a file that decides the tier in force (the configuration,
# the store's index, a team policy file) is newer than this shell's stamp. The hook then takes
# the same target again, as a `kctx use` would now (guarded when the entry became protected).
function __kctx_tiers_changed
    return 1
end

function __kctx_hook --on-event fish_prompt
    if test -n "$__kctx_entry"; and __kctx_tiers_changed
        true >"$__kctx_session"@TIERS_STAMP@ 2>/dev/null  # once per change, even if the refresh fails
        kctx _adopt
    end
# [directories]
    test "$PWD" = "$__kctx_pwd"; or __kctx_dir_changed
# [/directories]
    __kctx_refresh
end

function __kctx_exit --on-event fish_exit
    if test -n "$__kctx_session" -a "$__kctx_pid" = "$fish_pid"
        # the session and the files beside it (.unlock, the guard's .k); `set` allows no match
        set -l files $__kctx_session $__kctx_session.*
        command rm -f -- $files 2>/dev/null
    end
end

# A shell that inherited a target (a child of a kctx shell, a tmux pane) takes its own session,
# so that `kubectl config set-context` here cannot change the parent's target.
function __kctx_adopt_if_inherited
    test -z "$__kctx_session"; or return 0
    if test -n "$KCTX_CONTEXT"; or string match -q -- "$__kctx_sessions_dir/*" "$KUBECONFIG"
        kctx _adopt
# [directories]
        set -g __kctx_pwd $PWD  # the target inherited holds in this folder: a folder's file acts on entering
        __kctx_dir_find
        set -g __kctx_dir_file $__kctx_found
# [/directories]
# [start-last]
    else
        kctx _start  # config shell.start: last
# [/start-last]
    end
end

@K_FUNCTION@
# -- completion: kctx's (click), and k completes like kubectl --------------------------------------
@COMPLETION@
# [kubectl-completion]
@KUBECTL_COMPLETION@
complete -c k -w kubectl
# [/kubectl-completion]
# [kubectl]
# In interactive shells the word kubectl goes through the guard: the `k` function (its fast path).
if status is-interactive
    function kubectl
        k $argv
    end
end
# [/kubectl]
# [ps1]
if not functions -q __kctx_orig_fish_prompt
    functions -q fish_prompt; and functions -c fish_prompt __kctx_orig_fish_prompt
    function fish_prompt
        kctx_prompt
        functions -q __kctx_orig_fish_prompt; and __kctx_orig_fish_prompt
    end
end
# [/ps1]

__kctx_adopt_if_inherited
