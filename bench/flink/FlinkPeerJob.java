// The keyed job of `weir-bench flink`, in Flink 2.3's DataStream API, made
// to match Weir's: a parallel sequence of N numbers, each made into the
// event Weir's `generator` source makes of it (key `key-<n>`, n a
// SplitMix64 hash of i mod 10 000; a 16-byte value), keyBy key -> a running
// count per key in heap ValueState, emitted as (key, count as text) like
// Weir's `counter` -> discard, checkpoints every second. Each counting
// subtask prints, when it closes, the nanoTime of its first and last
// record, how many it counted and the checkpoints completed in between;
// the harness takes the operator's first -> last record over all subtasks
// (JVM and cluster start excluded, as Flink users measure it).
//
// Usage: java -cp 'classes:pyflink/lib/*' FlinkPeerJob EVENTS PARALLELISM

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.CheckpointListener;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;
import org.apache.flink.util.Collector;

public class FlinkPeerJob {
    static final long KEYS = 10_000;

    public static void main(String[] args) throws Exception {
        long events = Long.parseLong(args[0]);
        int parallelism = Integer.parseInt(args[1]);
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        env.setParallelism(parallelism);
        env.enableCheckpointing(1000);
        env.fromSequence(0, events - 1)
            .map(FlinkPeerJob::event)
            .returns(Types.TUPLE(Types.STRING, Types.STRING))
            .keyBy(event -> event.f0)
            .process(new Count())
            .sinkTo(new DiscardingSink<>());
        env.execute("flink-peer");
    }

    static final String PATTERN = "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz";

    static long splitmix64(long x) {
        x += 0x9E3779B97F4A7C15L;
        x = (x ^ (x >>> 30)) * 0xBF58476D1CE4E5B9L;
        x = (x ^ (x >>> 27)) * 0x94D049BB133111EBL;
        return x ^ (x >>> 31);
    }

    /// Weir's generator event `i` with seed 0.
    static Tuple2<String, String> event(long i) {
        long n = Long.remainderUnsigned(splitmix64(splitmix64(i)), KEYS);
        int start = (int) (i % 26);
        return Tuple2.of("key-" + n, PATTERN.substring(start, start + 16));
    }

    static class Count extends KeyedProcessFunction<String, Tuple2<String, String>, Tuple2<String, String>>
            implements CheckpointListener {
        private transient ValueState<Long> count;
        private long first, last, seen;
        /// When each checkpoint completed: only those before the last
        /// record count (Flink takes more after the input ends).
        private final java.util.List<Long> completed = new java.util.ArrayList<>();

        @Override
        public void open(OpenContext context) {
            count = getRuntimeContext().getState(new ValueStateDescriptor<>("count", Long.class));
        }

        @Override
        public void processElement(Tuple2<String, String> event, Context context, Collector<Tuple2<String, String>> out)
                throws Exception {
            long now = System.nanoTime();
            if (seen == 0) {
                first = now;
            }
            last = now;
            seen++;
            Long before = count.value();
            long next = (before == null ? 0 : before) + 1;
            count.update(next);
            out.collect(Tuple2.of(event.f0, Long.toString(next)));
        }

        @Override
        public void notifyCheckpointComplete(long checkpointId) {
            completed.add(System.nanoTime());
        }

        @Override
        public void close() {
            long during = completed.stream().filter(t -> t <= last).count();
            System.out.println("FLINK-SUBTASK " + first + " " + last + " " + seen + " " + during);
        }
    }
}
