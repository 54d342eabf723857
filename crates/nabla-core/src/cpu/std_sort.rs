//! The selection and sorting algorithms of GNU libstdc++ (`std::nth_element`, `std::sort`,
//! `std::partial_sort`), step for step, so that [`crate::Tensor::topk`] orders equal values
//! exactly as PyTorch's CPU kernel does (it calls these on `(value, index)` pairs, and which
//! of several equal values comes first is decided by the algorithms' moves alone).

/// `_S_threshold` of libstdc++'s introsort.
const THRESHOLD: usize = 16;

/// `std::__lg`: floor(log2(n)) for n > 0.
fn lg(n: usize) -> usize {
    (usize::BITS - 1 - n.leading_zeros()) as usize
}

fn move_median_to_first<E, F: Fn(&E, &E) -> bool>(
    v: &mut [E],
    result: usize,
    a: usize,
    b: usize,
    c: usize,
    comp: &F,
) {
    let pick = if comp(&v[a], &v[b]) {
        if comp(&v[b], &v[c]) {
            b
        } else if comp(&v[a], &v[c]) {
            c
        } else {
            a
        }
    } else if comp(&v[a], &v[c]) {
        a
    } else if comp(&v[b], &v[c]) {
        c
    } else {
        b
    };
    v.swap(result, pick);
}

/// `__unguarded_partition(first, last, pivot)`: the pivot sits outside `first..last`.
fn unguarded_partition<E, F: Fn(&E, &E) -> bool>(
    v: &mut [E],
    mut first: usize,
    mut last: usize,
    pivot: usize,
    comp: &F,
) -> usize {
    loop {
        while comp(&v[first], &v[pivot]) {
            first += 1;
        }
        last -= 1;
        while comp(&v[pivot], &v[last]) {
            last -= 1;
        }
        if first >= last {
            return first;
        }
        v.swap(first, last);
        first += 1;
    }
}

fn unguarded_partition_pivot<E, F: Fn(&E, &E) -> bool>(
    v: &mut [E],
    first: usize,
    last: usize,
    comp: &F,
) -> usize {
    let mid = first + (last - first) / 2;
    move_median_to_first(v, first, first + 1, mid, last - 1, comp);
    unguarded_partition(v, first + 1, last, first, comp)
}

/// `__unguarded_linear_insert(last)`.
fn unguarded_linear_insert<E: Copy, F: Fn(&E, &E) -> bool>(v: &mut [E], mut last: usize, comp: &F) {
    let val = v[last];
    let mut next = last - 1;
    while comp(&val, &v[next]) {
        v[last] = v[next];
        last = next;
        next = next.wrapping_sub(1);
    }
    v[last] = val;
}

fn insertion_sort<E: Copy, F: Fn(&E, &E) -> bool>(
    v: &mut [E],
    first: usize,
    last: usize,
    comp: &F,
) {
    if first == last {
        return;
    }
    for i in first + 1..last {
        if comp(&v[i], &v[first]) {
            let val = v[i];
            v.copy_within(first..i, first + 1);
            v[first] = val;
        } else {
            unguarded_linear_insert(v, i, comp);
        }
    }
}

/// `__push_heap` on the heap at `base`.
fn push_heap<E: Copy, F: Fn(&E, &E) -> bool>(
    v: &mut [E],
    base: usize,
    mut hole: usize,
    top: usize,
    value: E,
    comp: &F,
) {
    let mut parent = hole.wrapping_sub(1) / 2;
    while hole > top && comp(&v[base + parent], &value) {
        v[base + hole] = v[base + parent];
        hole = parent;
        parent = hole.wrapping_sub(1) / 2;
    }
    v[base + hole] = value;
}

/// `__adjust_heap` on the heap `base..base + len`.
fn adjust_heap<E: Copy, F: Fn(&E, &E) -> bool>(
    v: &mut [E],
    base: usize,
    mut hole: usize,
    len: usize,
    value: E,
    comp: &F,
) {
    let top = hole;
    let mut second = hole;
    while second < len.saturating_sub(1) / 2 {
        second = 2 * (second + 1);
        if comp(&v[base + second], &v[base + second - 1]) {
            second -= 1;
        }
        v[base + hole] = v[base + second];
        hole = second;
    }
    if len & 1 == 0 && len >= 2 && second == (len - 2) / 2 {
        second = 2 * (second + 1);
        v[base + hole] = v[base + second - 1];
        hole = second - 1;
    }
    push_heap(v, base, hole, top, value, comp);
}

fn make_heap<E: Copy, F: Fn(&E, &E) -> bool>(v: &mut [E], first: usize, last: usize, comp: &F) {
    let len = last - first;
    if len < 2 {
        return;
    }
    let mut parent = (len - 2) / 2;
    loop {
        let value = v[first + parent];
        adjust_heap(v, first, parent, len, value, comp);
        if parent == 0 {
            return;
        }
        parent -= 1;
    }
}

/// `__pop_heap(first, last, result)`.
fn pop_heap<E: Copy, F: Fn(&E, &E) -> bool>(
    v: &mut [E],
    first: usize,
    last: usize,
    result: usize,
    comp: &F,
) {
    let value = v[result];
    v[result] = v[first];
    adjust_heap(v, first, 0, last - first, value, comp);
}

fn heap_select<E: Copy, F: Fn(&E, &E) -> bool>(
    v: &mut [E],
    first: usize,
    middle: usize,
    last: usize,
    comp: &F,
) {
    make_heap(v, first, middle, comp);
    for i in middle..last {
        if comp(&v[i], &v[first]) {
            pop_heap(v, first, middle, i, comp);
        }
    }
}

fn sort_heap<E: Copy, F: Fn(&E, &E) -> bool>(v: &mut [E], first: usize, mut last: usize, comp: &F) {
    while last - first > 1 {
        last -= 1;
        pop_heap(v, first, last, last, comp);
    }
}

/// `std::partial_sort(v, v + middle, v + len, comp)`.
pub(crate) fn partial_sort<E: Copy, F: Fn(&E, &E) -> bool>(v: &mut [E], middle: usize, comp: &F) {
    heap_select(v, 0, middle, v.len(), comp);
    sort_heap(v, 0, middle, comp);
}

fn introsort_loop<E: Copy, F: Fn(&E, &E) -> bool>(
    v: &mut [E],
    first: usize,
    mut last: usize,
    mut depth: usize,
    comp: &F,
) {
    while last - first > THRESHOLD {
        if depth == 0 {
            heap_select(v, first, last, last, comp);
            sort_heap(v, first, last, comp);
            return;
        }
        depth -= 1;
        let cut = unguarded_partition_pivot(v, first, last, comp);
        introsort_loop(v, cut, last, depth, comp);
        last = cut;
    }
}

/// `std::sort(v, v + len, comp)`.
pub(crate) fn sort<E: Copy, F: Fn(&E, &E) -> bool>(v: &mut [E], comp: &F) {
    let n = v.len();
    if n == 0 {
        return;
    }
    introsort_loop(v, 0, n, lg(n) * 2, comp);
    if n > THRESHOLD {
        insertion_sort(v, 0, THRESHOLD, comp);
        for i in THRESHOLD..n {
            unguarded_linear_insert(v, i, comp);
        }
    } else {
        insertion_sort(v, 0, n, comp);
    }
}

/// `std::nth_element(v, v + nth, v + len, comp)`.
pub(crate) fn nth_element<E: Copy, F: Fn(&E, &E) -> bool>(v: &mut [E], nth: usize, comp: &F) {
    let (mut first, mut last) = (0, v.len());
    if first == last || nth == last {
        return;
    }
    let mut depth = lg(last - first) * 2;
    while last - first > 3 {
        if depth == 0 {
            heap_select(v, first, nth + 1, last, comp);
            v.swap(first, nth);
            return;
        }
        depth -= 1;
        let cut = unguarded_partition_pivot(v, first, last, comp);
        if cut <= nth {
            first = cut;
        } else {
            last = cut;
        }
    }
    insertion_sort(v, first, last, comp);
}
