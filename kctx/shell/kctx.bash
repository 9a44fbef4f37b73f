# kctx shell integration for bash. Load it from ~/.bashrc with:
#     eval "$(kctx init bash)"
# and put ${KCTX_PS1} in PS1 (single quotes: PS1='${KCTX_PS1}\w\$ '), or use `kctx init bash --ps1`.
#
# `kctx use|ns|off|unlock|lock` print shell code that this function evaluates when they succeed.
# The prompt hook keeps KCTX_PS1 current without forking: it compares the session file, read
# with the `read` builtin, with what kctx wrote, and KUBECONFIG with what kctx set.

__kctx_sessions_dir=@SESSIONS_DIR@
__kctx_warn_pre=@WARN_PRE@
__kctx_warn_post=@WARN_POST@
__kctx_ns_slot=@NS_SLOT@
# The files kept beside the session file, by suffix (kctx.paths): the exit removes them with it.
__kctx_siblings=@SIBLINGS@

# How to start kctx: its Python with -I -S and kctx's folders on sys.path when `kctx init`
# could see them (no site scan, no `import re` of a console script: ~13 ms less per use),
# else the kctx command.
__kctx_cmd=@CMD@

kctx() {
    case ${1-} in
    @EVALUATED@)
        \builtin local __kctx_out
        __kctx_out=$(KCTX_SHELL=bash KCTX_SHELL_PID=$$ KCTX_SESSION=${__kctx_session-} \
            KCTX_PREVIOUS=${__kctx_prev_entry-} KCTX_PREVIOUS_NS=${__kctx_prev_ns-} \
            \command "${__kctx_cmd[@]}" "$@") || \builtin return
        \builtin eval "$__kctx_out"
        ;;
    *)
        \command "${__kctx_cmd[@]}" "$@"
        ;;
    esac
}

# Show a drift reason instead of the target: the target is not what kctx set.
__kctx_warn() {
    KCTX_PS1="${__kctx_warn_pre-}$1${__kctx_warn_post-} "
}

# The session file no longer holds what kctx wrote (kubectl config set-context, use-context):
# read the real context and namespace from kubectl's YAML with builtins only.
__kctx_drift() {
    # (declarations apart from assignments: `\builtin local x=$1` would split $1 into words)
    \builtin local c cc ns n rest re
    c=$1 cc= ns= n=0
    if [[ -z $c ]]; then
        __kctx_warn "session file gone"
        \builtin return 1
    fi
    if [[ -z ${__kctx_entry-} ]]; then
        __kctx_warn "session changed"
        \builtin return 1
    fi
    re=$'(^|\n)current-context: [\'"]?([A-Za-z0-9][A-Za-z0-9._-]*)[\'"]?(\n|$)'
    [[ $c =~ $re ]] && cc=${BASH_REMATCH[2]}
    rest=$c
    re=$'(^|\n)- context:'
    while [[ $rest =~ $re ]]; do
        n=$((n + 1))
        rest=${rest#*"${BASH_REMATCH[0]}"}
    done
    if [[ $cc != "$__kctx_entry" || $n != 1 ]]; then
        __kctx_warn "context changed"
        \builtin return 1
    fi
    rest=$c n=0
    re=$'\n    namespace: [\'"]?([^\n\'"]*)[\'"]?'
    while [[ $rest =~ $re ]]; do
        n=$((n + 1))
        ns=${BASH_REMATCH[1]}
        rest=${rest#*"${BASH_REMATCH[0]}"}
    done
    if [[ $n == 0 ]]; then
        ns=default
    fi
    re='^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$'
    if [[ $n -gt 1 || ! $ns =~ $re ]]; then
        __kctx_warn "namespace changed"
        \builtin return 1
    fi
    [[ $ns == "${KCTX_NAMESPACE-}" ]] || __kctx_prev_ns=${KCTX_NAMESPACE-}
    __kctx_content=$c
    __kctx_seg=${__kctx_tmpl//"$__kctx_ns_slot"/"$ns"}
    \builtin export KCTX_NAMESPACE="$ns"
}

__kctx_refresh() {
    KCTX_PS1=
    [[ -n ${__kctx_kubeconfig-} ]] || \builtin return 0
    if [[ ${KUBECONFIG-} != "$__kctx_kubeconfig" ]]; then
        __kctx_warn "KUBECONFIG changed"
        \builtin return 0
    fi
    # Older than its stamp <session>.written, the session file holds what kctx wrote: two dates
    # compared instead of the file read (kctx.session.write_session). Else it is read, and
    # checked against what kctx wrote.
    if [[ ! -f ${__kctx_session-} || ! $__kctx_session -ot $__kctx_session@WRITTEN@ ]]; then
        \builtin local c
        c=
        [[ -f ${__kctx_session-} ]] && IFS= \builtin read -r -d '' c <"$__kctx_session"
        if [[ $c != "${__kctx_content-}" ]]; then
            __kctx_drift "$c" || \builtin return 0
        fi
    fi
    [[ -n ${__kctx_entry-} ]] || \builtin return 0
    if [[ ! -e ${__kctx_entry_file-} ]]; then
        __kctx_warn "entry $__kctx_entry removed"
        \builtin return 0
    fi
    KCTX_PS1=${__kctx_seg-}
    if ((${__kctx_unlock_until:-0} > ${EPOCHSECONDS:-0})); then
        KCTX_PS1+=${__kctx_unlock_ind-}
    fi
    if [[ -n ${__kctx_guard-} ]]; then
        # The API guard of this shell: its pid is the first word of <session>.guard. The file is
        # read (and kill -0 asked) only when the pid read before is gone from /proc: one stat per
        # prompt where there is a /proc. Down, every client of this shell fails until the next
        # kctx or k command restarts it.
        if [[ -z ${__kctx_guard_pid-} || ! -d /proc/$__kctx_guard_pid ]]; then
            \builtin local g=
            [[ -r $__kctx_guard ]] && IFS=' ' \builtin read -r g _ <"$__kctx_guard"
            [[ -n $g ]] && \builtin kill -0 "$g" 2>/dev/null || g=
            __kctx_guard_pid=$g
        fi
        if [[ -n $__kctx_guard_pid ]]; then
            KCTX_PS1+=${__kctx_guard_ind-}
        else
            KCTX_PS1+=" ${__kctx_warn_pre-}guard down${__kctx_warn_post-}"
        fi
    fi
    KCTX_PS1+=' '
}

# [directories]
# shell.directories: the .kctx file nearest $PWD, into __kctx_found (builtins only). kctx runs
# only when that file differs from the one found before, so a `kctx use` inside the folder
# holds until the shell enters another; a script's cd changes nothing (no prompt).
__kctx_dir_find() {
    \builtin local d  # (apart from the assignment: `\builtin local d=$PWD` would split $PWD)
    d=$PWD __kctx_found=
    while :; do
        if [[ -f $d/.kctx ]]; then
            __kctx_found=$d/.kctx
            \builtin return 0
        fi
        [[ -n $d && $d != / ]] || \builtin return 0
        d=${d%/*}
    done
}

__kctx_dir_changed() {
    __kctx_pwd=$PWD
    __kctx_dir_find
    [[ $__kctx_found != "${__kctx_dir_file-}" ]] || \builtin return 0
    __kctx_dir_file=$__kctx_found
    [[ -z $__kctx_found ]] || kctx _dir "$__kctx_found"
}
# [/directories]

# kctx use redefines this: true when a file that decides the tier in force (the configuration,
# the store's index, a team policy file) is newer than this shell's stamp. The hook then takes
# the same target again, as a `kctx use` would now (guarded when the entry became protected).
__kctx_tiers_changed() { \builtin return 1; }

__kctx_hook() {
    \builtin local __kctx_rc=$?  # $? is expanded before local runs
    if [[ -n ${__kctx_entry-} ]] && __kctx_tiers_changed; then
        : 2>/dev/null >|"$__kctx_session"@TIERS_STAMP@  # once per change, even if the refresh fails
        kctx _adopt
    fi
# [directories]
    [[ $PWD == "${__kctx_pwd-}" ]] || __kctx_dir_changed
# [/directories]
    __kctx_refresh
    \builtin return $__kctx_rc
}

__kctx_exit() {
    \builtin local __kctx_rc=$?  # $? is expanded before local runs
    if [[ -n ${__kctx_session-} && ${__kctx_pid-} == "${BASHPID:-$$}" ]]; then
        # the session and the files beside it (no glob: failglob, nomatch)
        \command rm -f -- "$__kctx_session" "${__kctx_siblings[@]/#/"$__kctx_session"}" 2>/dev/null
    fi
    \builtin return $__kctx_rc
}

# A shell that inherited a target (a child of a kctx shell, a tmux pane) takes its own session,
# so that `kubectl config set-context` here cannot change the parent's target.
__kctx_adopt_if_inherited() {
    [[ -z ${__kctx_session-} ]] || \builtin return 0
    if [[ -n ${KCTX_CONTEXT-} || ${KUBECONFIG-} == "$__kctx_sessions_dir"/* ]]; then
        kctx _adopt
# [directories]
        __kctx_pwd=$PWD  # the target inherited holds in this folder: a folder's file acts on entering
        __kctx_dir_find
        __kctx_dir_file=$__kctx_found
# [/directories]
# [start-last]
    else
        kctx _start  # config shell.start: last
# [/start-last]
    fi
}

# The hook goes first, so commands after it in PROMPT_COMMAND still see the user's $?.
if [[ -n ${PROMPT_COMMAND+x} && ${PROMPT_COMMAND@a} == *a* ]]; then
    [[ " ${PROMPT_COMMAND[*]} " == *" __kctx_hook "* ]] || PROMPT_COMMAND=(__kctx_hook "${PROMPT_COMMAND[@]}")
elif [[ ${PROMPT_COMMAND-} != *__kctx_hook* ]]; then
    PROMPT_COMMAND="__kctx_hook${PROMPT_COMMAND:+;$PROMPT_COMMAND}"
fi

# Chain onto an existing EXIT trap instead of replacing it.
__kctx_exit_trap=$(\builtin trap -p EXIT)
if [[ $__kctx_exit_trap != *__kctx_exit* ]]; then
    if [[ -n $__kctx_exit_trap ]]; then
        \builtin eval "__kctx_exit_trap=( $__kctx_exit_trap )"
        \builtin trap -- "__kctx_exit; ${__kctx_exit_trap[2]}" EXIT
    else
        \builtin trap -- __kctx_exit EXIT
    fi
fi
\builtin unset __kctx_exit_trap

@K_FUNCTION@
# -- completion: kctx's (click), and k completes like kubectl --------------------------------------
@COMPLETION@
# [kubectl-completion]
@KUBECTL_COMPLETION@
complete -o default -F __start_kubectl k
# [/kubectl-completion]
# [kubectl]
# In interactive shells the word kubectl goes through the guard: the `k` function (its fast path).
if [[ $- == *i* ]]; then function kubectl { k "$@"; }; fi
# [/kubectl]
# [ps1]
[[ ${PS1-} == *'${KCTX_PS1'* ]] || PS1='${KCTX_PS1-}'"${PS1-}"
# [/ps1]

__kctx_adopt_if_inherited
