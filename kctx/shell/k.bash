# k: kubectl with kctx's guard (kctx/guard). In a kctx shell a plain read runs the kubectl that
# the guard chose for this session at once, from the note "<session file>.k" (kctx/guard/fast.py:
# what it holds, and when it is trusted); everything else starts the guard with the Python that
# ran `kctx init`, with -I -S (no site scan: its .pth files cost up to 20 ms). Scripts, which do
# not load this, run the `k` command that pip, pipx or uv installed: the same guard.

__kctx_k_cmd=@K_CMD@

# Sets __kctx_k_x to the kubectl to run when "$@" is a read this shell may run without Python.
__kctx_k_fast() {
    [[ -z ${KCTX_IN_K-}${KCTX_KUBECTL-}${KCTX_NO_FAST-} && -n ${KUBECONFIG-} && -n ${EPOCHSECONDS-} ]] || \builtin return 1
    # (declarations apart from assignments: `\builtin local x=$1` would split $1 into words)
    \builtin local s m x expiry reads d a w skip
    s=${KUBECONFIG%%:*} w= skip=
    [[ $s@K_NOTE@ -nt $s ]] || \builtin return 1
    {
        \builtin read -r m && [[ $m == @K_MAGIC@ ]] && \builtin read -r x && [[ -x $x ]] \
            && \builtin read -r expiry && \builtin read -r reads || \builtin return 1
        case $expiry in '' | *[!0-9]*) \builtin return 1 ;; esac
        ((EPOCHSECONDS < expiry)) || \builtin return 1
        while \builtin read -r d; do
            if [[ -e $d && ! $s@K_NOTE@ -nt $d ]]; then \builtin return 1; fi
        done
    } <"$s"@K_NOTE@ || \builtin return 1
    # A shell the API guard fronts (kctx/apiguard): a dead guard goes through Python, which restarts it.
    if [[ -e $s@K_GUARD@ ]]; then
        { \builtin read -r d a <"$s"@K_GUARD@; } 2>/dev/null || \builtin return 1
        case $d in '' | *[!0-9]*) \builtin return 1 ;; esac
        \builtin kill -0 "$d" 2>/dev/null || \builtin return 1
    fi
    for a in "$@"; do
        if [[ -n $skip ]]; then skip=; \builtin continue; fi
        case $a in
        @K_TARGET@) \builtin return 1 ;;
        esac
        [[ -z $w ]] || \builtin continue
        case $a in
        @K_SKIP@) skip=1 ;;
        @K_INLINE@) ;;
        -*) \builtin return 1 ;;
        *) w=$a ;;
        esac
    done
    [[ -n $w && " $reads " == *" $w "* ]] || \builtin return 1
    __kctx_k_x=$x
}

k() {
    \builtin local __kctx_k_x=
    if __kctx_k_fast "$@"; then
        KCTX_IN_K=1 KCTX_KUBECTL=$__kctx_k_x \command "$__kctx_k_x" "$@"
    elif [[ -x ${__kctx_k_cmd[0]} ]]; then
        \command "${__kctx_k_cmd[@]}" "$@"
    elif \builtin type -P k >/dev/null; then
        \command k "$@"
    else
        \builtin printf '%s\n' "k: kctx's Python (${__kctx_k_cmd[0]}) is gone and no k is on PATH: reinstall kctx (pipx install kctx), then open a new shell" >&2
        \builtin return 127
    fi
}
