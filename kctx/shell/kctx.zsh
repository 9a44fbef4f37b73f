# kctx shell integration for zsh. Load it from ~/.zshrc (after compinit, for completion) with:
#     eval "$(kctx init zsh)"
# and put ${KCTX_PS1} in PROMPT with prompt_subst (setopt prompt_subst; PROMPT='${KCTX_PS1}'$PROMPT),
# or use `kctx init zsh --ps1`.
#
# `kctx use|ns|off|unlock|lock` print shell code that this function evaluates when they succeed.
# The precmd hook keeps KCTX_PS1 current without forking: it compares the session file, read
# without a fork, with what kctx wrote, and KUBECONFIG with what kctx set.

typeset -g __kctx_sessions_dir=@SESSIONS_DIR@
typeset -g __kctx_warn_pre=@WARN_PRE@
typeset -g __kctx_warn_post=@WARN_POST@
typeset -g __kctx_ns_slot=@NS_SLOT@
# The files kept beside the session file, by suffix (kctx.paths): the exit removes them with it.
typeset -ga __kctx_siblings
__kctx_siblings=@SIBLINGS@
\builtin zmodload zsh/datetime 2>/dev/null  # EPOCHSECONDS, for the unlock indicator

# How to start kctx: its Python with -I -S and kctx's folders on sys.path when `kctx init`
# could see them (no site scan, no `import re` of a console script: ~13 ms less per use),
# else the kctx command.
typeset -ga __kctx_cmd
__kctx_cmd=@CMD@

kctx() {
    \builtin emulate -L zsh
    case ${1-} in
    (@EVALUATED@)
        \builtin local __kctx_out
        __kctx_out=$(KCTX_SHELL=zsh KCTX_SHELL_PID=$$ KCTX_SESSION=${__kctx_session-} \
            KCTX_PREVIOUS=${__kctx_prev_entry-} KCTX_PREVIOUS_NS=${__kctx_prev_ns-} \
            \command "${__kctx_cmd[@]}" "$@") || \builtin return
        \builtin eval "$__kctx_out"
        ;;
    (*)
        \command "${__kctx_cmd[@]}" "$@"
        ;;
    esac
}

# Show a drift reason instead of the target: the target is not what kctx set.
__kctx_warn() {
    typeset -g KCTX_PS1="${__kctx_warn_pre-}$1${__kctx_warn_post-} "
}

# The session file no longer holds what kctx wrote (kubectl config set-context, use-context):
# read the real context and namespace from kubectl's YAML with builtins only.
__kctx_drift() {
    \builtin emulate -L zsh
    \builtin local c=$1 cc= ns= rest re
    \builtin local -i n=0
    if [[ -z $c ]]; then
        __kctx_warn "session file gone"
        \builtin return 1
    fi
    if [[ -z ${__kctx_entry-} ]]; then
        __kctx_warn "session changed"
        \builtin return 1
    fi
    re=$'(^|\n)current-context: [\'"]?([A-Za-z0-9][A-Za-z0-9._-]*)[\'"]?(\n|$)'
    [[ $c =~ $re ]] && cc=$match[2]
    rest=$c
    re=$'(^|\n)- context:'
    while [[ $rest =~ $re ]]; do
        n+=1
        rest=${rest[MEND+1,-1]}
    done
    if [[ $cc != "$__kctx_entry" || $n != 1 ]]; then
        __kctx_warn "context changed"
        \builtin return 1
    fi
    rest=$c
    n=0
    re=$'\n    namespace: [\'"]?([^\n\'"]*)[\'"]?'
    while [[ $rest =~ $re ]]; do
        n+=1
        ns=$match[1]
        rest=${rest[MEND+1,-1]}
    done
    if (( n == 0 )); then
        ns=default
    fi
    re='^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$'
    if (( n > 1 )) || [[ ! $ns =~ $re ]]; then
        __kctx_warn "namespace changed"
        \builtin return 1
    fi
    [[ $ns == "${KCTX_NAMESPACE-}" ]] || typeset -g __kctx_prev_ns=${KCTX_NAMESPACE-}
    typeset -g __kctx_content=$c
    typeset -g __kctx_seg=${__kctx_tmpl//$__kctx_ns_slot/$ns}
    \builtin export KCTX_NAMESPACE=$ns
}

# Runs at every prompt: only tests and one `read`, nothing that depends on the user's options
# (no emulate here, it costs more than the rest; __kctx_drift sets its own).
__kctx_refresh() {
    typeset -g KCTX_PS1=
    [[ -n ${__kctx_kubeconfig-} ]] || \builtin return 0
    if [[ ${KUBECONFIG-} != "$__kctx_kubeconfig" ]]; then
        __kctx_warn "KUBECONFIG changed"
        \builtin return 0
    fi
    # Older than its stamp <session>.written, the session file holds what kctx wrote: two dates
    # compared instead of the file read (kctx.session.write_session). Else it is read, and
    # checked against what kctx wrote.
    if [[ ! -f ${__kctx_session-} || ! $__kctx_session -ot $__kctx_session@WRITTEN@ ]]; then
        \builtin local c=
        # zsh reads $(<file) itself, without a fork, in one read(2); `read -d ''` costs a syscall per byte.
        # (It drops trailing newlines: kctx writes none, kubectl's rewrite is detected all the same.)
        [[ -f ${__kctx_session-} && -r $__kctx_session ]] && c=$(<"$__kctx_session")
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
    if (( ${__kctx_unlock_until:-0} > ${EPOCHSECONDS:-0} )); then
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
    \builtin local __kctx_rc=$?
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
    \builtin local __kctx_rc=$?
    # zshexit also runs when a subshell calls exit: only the shell that owns the session counts.
    if [[ -n ${__kctx_session-} && ${__kctx_pid-} == $$ && ${ZSH_SUBSHELL:-0} == 0 ]]; then
        # the session and the files beside it (no glob: failglob, nomatch)
        \command rm -f -- "$__kctx_session" "${(@)__kctx_siblings/#/"$__kctx_session"}" 2>/dev/null
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

typeset -ga precmd_functions zshexit_functions
() {
    \builtin emulate -L zsh  # whatever the user's options (nounset, ksh_arrays, ...)
    (( ${precmd_functions[(Ie)__kctx_hook]} )) || precmd_functions=(__kctx_hook $precmd_functions)
    (( ${zshexit_functions[(Ie)__kctx_exit]} )) || zshexit_functions+=(__kctx_exit)
}

@K_FUNCTION@
# -- completion: kctx's (click), and k completes like kubectl --------------------------------------
@COMPLETION@
# [kubectl-completion]
if (( $+functions[compdef] )); then
@KUBECTL_COMPLETION@
compdef _kubectl k
fi
# [/kubectl-completion]
# [kubectl]
# In interactive shells the word kubectl goes through the guard: the `k` function (its fast path).
if [[ -o interactive ]]; then function kubectl { k "$@"; }; fi
# [/kubectl]
# [ps1]
\builtin setopt prompt_subst
[[ ${PROMPT-} == *'${KCTX_PS1'* ]] || PROMPT='${KCTX_PS1-}'"${PROMPT-}"
# [/ps1]

__kctx_adopt_if_inherited
