import { createMemoryStorage } from '../../src/storage/memory.ts';
import { storageContract } from './kv-contract.ts';

// Each connect makes a separate map, so the persistence and sharing tests do not apply.
storageContract('memory', {
  persistent: false,
  shared: false,
  readsNow: true,
  async createBackend() {
    return {
      async connect({ now }) {
        return createMemoryStorage({ now });
      },
      async dispose() {},
    };
  },
});
